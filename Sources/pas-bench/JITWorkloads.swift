#if canImport(Glibc)
import Glibc
#endif
import PasJIT
import PasSystem
import CPasShim

/// The JIT churn shape: 256 live code blocks; each step frees a random one and allocates a
/// block of 32 B..64 KiB (log-uniform), writes it (up to 256 bytes of code plus a return)
/// through the write path, and every fourth block is shrunk to half. Ns per step.
/// The same sequence is run by the asmjit peer (`Peers/asmjit_peer.cpp`).
func jitChurnPas(ops: Int) throws -> Double {
    let heap = try JITHeap(options: .init(regionSize: 1 << 30))
    let slots = 256
    var table = [CodeBlock?](repeating: nil, count: slots)
    var rng = Random(seed: 0x717)
    var code = [UInt8](repeating: 0x90, count: 256)
    code[255] = 0xC3
    let start = nowNanoseconds()
    for i in 0 ..< ops {
        let k = Int(rng.next() % UInt64(slots))
        if let old = table[k] { try heap.deallocate(old) }
        let size = rng.logUniform(32, 64 << 10)
        let b = try heap.allocate(size: size)
        let n = min(size, 256)
        try code.withUnsafeBytes { try heap.copy(UnsafeRawBufferPointer(rebasing: $0[(256 - n)...]), into: b) }
        if i & 3 == 0 { try heap.shrink(b, to: max(n, size / 2)) }
        table[k] = b
    }
    let elapsed = nowNanoseconds() - start
    for b in table { if let b { try heap.deallocate(b) } }
    return Double(elapsed) / Double(ops)
}

/// The hand-rolled baseline: one mmap per block, written RW, then mprotect to RX, munmap on free.
func jitChurnMmap(ops: Int) -> Double {
    let slots = 256
    var table = [(UnsafeMutableRawPointer, Int)?](repeating: nil, count: slots)
    var rng = Random(seed: 0x717)
    let start = nowNanoseconds()
    for _ in 0 ..< ops {
        let k = Int(rng.next() % UInt64(slots))
        if let (p, n) = table[k] { munmap(p, n) }
        let size = rng.logUniform(32, 64 << 10)
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        let n = min(size, 256)
        memset(p, 0x90, n)
        p.storeBytes(of: 0xC3, toByteOffset: n - 1, as: UInt8.self)
        mprotect(p, size, PROT_READ | PROT_EXEC)
        pas_shim_flush_icache(p, p + n)
        table[k] = (p, size)
    }
    let elapsed = nowNanoseconds() - start
    for e in table { if let (p, n) = e { munmap(p, n) } }
    return Double(elapsed) / Double(ops)
}
