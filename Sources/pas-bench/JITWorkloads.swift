#if canImport(Glibc)
import Glibc
#endif
import PasJIT
import PasSystem
import CPasShim

/// The JIT workload shapes. The same sequences (same seeds) are run by the asmjit peer
/// (`Peers/asmjit_peer.cpp`) and by the mmap-per-function baseline.
enum JITShape: String, CaseIterable {
    /// `slots` live blocks of 16..256 B; each step frees a random one, allocates a new block and
    /// writes it whole (nops and a return); every fourth block is shrunk to half after writing.
    case churnSmall = "churn-small"
    /// The same with 32..4096 B blocks.
    case churnMedium = "churn-medium"
    /// Allocate 64 B, write a 6-byte stub, flush, call it, free it. Ns per publish.
    case publish
    /// Allocate and write 100k blocks of 16..1024 B, free the oldest 90%, report RSS in MiB
    /// (after an explicit scavenge where the allocator has one).
    case rss = "rss-mib"

    var sizes: (Int, Int) {
        switch self {
        case .churnSmall: return (16, 256)
        case .churnMedium: return (32, 4096)
        case .publish: return (64, 64)
        case .rss: return (16, 1024)
        }
    }
    static let slots = 4096
    func ops(quick: Bool) -> Int {
        switch self {
        case .churnSmall, .churnMedium: return scaled(quick ? 100_000 : 1_000_000)
        case .publish: return scaled(quick ? 100_000 : 1_000_000)
        case .rss: return scaled(100_000)
        }
    }
}

/// `mov eax, 42; ret` on x86-64, `mov w0, #42; ret` on arm64.
let stub42: [UInt8] = {
    #if arch(arm64)
    return [0x40, 0x05, 0x80, 0x52, 0xC0, 0x03, 0x5F, 0xD6]
    #else
    return [0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3]
    #endif
}()

/// Bytes written into churn blocks: nops ending in a return.
let churnCode: [UInt8] = {
    var c = [UInt8](repeating: 0x90, count: 4096)
    c[4095] = 0xC3
    return c
}()

func runJIT(_ shape: JITShape, allocator: String, quick: Bool) throws -> Double {
    switch allocator {
    case "pas": return try jitPas(shape, quick: quick)
    case "mmap": return jitMmap(shape, quick: quick)
    default: return try AsmjitPeer.run(shape: shape.rawValue, ops: shape.ops(quick: quick))
    }
}

func jitPas(_ shape: JITShape, quick: Bool) throws -> Double {
    let heap = try JITHeap(options: .init(regionSize: 1 << 30))
    var rng = Random(seed: 0x717)
    let ops = shape.ops(quick: quick)
    let (lo, hi) = shape.sizes
    switch shape {
    case .publish:
        let start = nowNanoseconds()
        for _ in 0 ..< ops {
            let b = try heap.install(stub42)
            let f = unsafeBitCast(b.pointer, to: (@convention(c) () -> Int32).self)
            if f() != 42 { fatalError("stub returned the wrong value") }
            try heap.deallocate(b)
        }
        return Double(nowNanoseconds() - start) / Double(ops)
    case .rss:
        var blocks: [CodeBlock] = []
        blocks.reserveCapacity(ops)
        for _ in 0 ..< ops {
            let n = rng.uniform(lo, hi)
            try churnCode.withUnsafeBytes { blocks.append(try heap.install(UnsafeRawBufferPointer(rebasing: $0[(4096 - n)...]))) }
        }
        for b in blocks.prefix(ops * 9 / 10) { try heap.deallocate(b) }
        try heap.decommitEmptyPages()
        return Double(SystemInfo.residentBytes()) / Double(1 << 20)
    case .churnSmall, .churnMedium:
        let slots = JITShape.slots
        var table = [CodeBlock?](repeating: nil, count: slots)
        let start = nowNanoseconds()
        try churnCode.withUnsafeBytes { code in
            for i in 0 ..< ops {
                let k = Int(rng.next() % UInt64(slots))
                if let old = table[k] { try heap.deallocate(old) }
                let n = rng.uniform(lo, hi)
                let b = try heap.install(UnsafeRawBufferPointer(rebasing: code[(4096 - n)...]))
                if i & 3 == 0 { try heap.shrink(b, to: max(1, n / 2)) }
                table[k] = b
            }
        }
        let elapsed = nowNanoseconds() - start
        for b in table { if let b { try heap.deallocate(b) } }
        return Double(elapsed) / Double(ops)
    }
}

/// The hand-rolled baseline: one mmap per block, written RW, then mprotect to RX, munmap on free.
func jitMmap(_ shape: JITShape, quick: Bool) -> Double {
    let ops = max(1, shape == .rss ? scaled(100_000) : shape.ops(quick: quick) / 10)
    let (lo, hi) = shape.sizes
    var rng = Random(seed: 0x717)
    func install(_ n: Int) -> (UnsafeMutableRawPointer, Int) {
        let p = mmap(nil, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        churnCode.withUnsafeBytes { memcpy(p, $0.baseAddress! + (4096 - n), n) }
        mprotect(p, n, PROT_READ | PROT_EXEC)
        pas_shim_flush_icache(p, p + n)
        return (p, n)
    }
    switch shape {
    case .publish:
        let start = nowNanoseconds()
        for _ in 0 ..< ops {
            let p = mmap(nil, 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            stub42.withUnsafeBytes { memcpy(p, $0.baseAddress!, stub42.count) }
            mprotect(p, 64, PROT_READ | PROT_EXEC)
            pas_shim_flush_icache(p, p + stub42.count)
            let f = unsafeBitCast(p, to: (@convention(c) () -> Int32).self)
            if f() != 42 { fatalError("stub returned the wrong value") }
            munmap(p, 64)
        }
        return Double(nowNanoseconds() - start) / Double(ops)
    case .rss:
        var blocks: [(UnsafeMutableRawPointer, Int)] = []
        for _ in 0 ..< ops { blocks.append(install(rng.uniform(lo, hi))) }
        for (p, n) in blocks.prefix(ops * 9 / 10) { munmap(p, n) }
        return Double(SystemInfo.residentBytes()) / Double(1 << 20)
    case .churnSmall, .churnMedium:
        let slots = JITShape.slots
        var table = [(UnsafeMutableRawPointer, Int)?](repeating: nil, count: slots)
        let start = nowNanoseconds()
        for _ in 0 ..< ops {
            let k = Int(rng.next() % UInt64(slots))
            if let (p, n) = table[k] { munmap(p, n) }
            table[k] = install(rng.uniform(lo, hi))
        }
        let elapsed = nowNanoseconds() - start
        for e in table { if let (p, n) = e { munmap(p, n) } }
        return Double(elapsed) / Double(ops)
    }
}
