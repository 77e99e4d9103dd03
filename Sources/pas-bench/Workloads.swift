#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasJIT
import PasSystem

/// A workload: a fixed sequence of operations (seeded), run against one allocator in a child
/// process. `run` returns nanoseconds per operation.
struct Workload {
    var name: String
    var allocators: [String]
    var run: (_ allocator: String, _ quick: Bool) throws -> Double
}

let mallocPeers = ["pas", "pas-preload", "glibc", "mimalloc", "jemalloc", "tcmalloc"]

/// Operations a heap-like workload needs, so one loop serves Pas and malloc.
protocol BenchAllocator {
    mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer
    mutating func free(_ p: UnsafeMutableRawPointer)
}

struct MallocAllocator: BenchAllocator {
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer { malloc(size)! }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) { Glibc.free(p) }
}

struct LargeHeapAllocator: BenchAllocator {
    let heap = LargeHeap(chunks: ReservationChunkSource(source: SystemPageSource.shared, reservationSize: 1 << 30))
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer { try! heap.allocate(size: size) }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) { try! heap.deallocate(p) }
}

struct MargeAllocator: BenchAllocator {
    let heap = BitfitHeap<MargeBitfitConfig, ReservationChunkSource<SystemPageSource>>(
        chunks: ReservationChunkSource(source: SystemPageSource.shared))
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer { try! heap.allocate(size: size) }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) { try! heap.deallocate(p) }
}

/// Replace a random slot `ops` times: free the old block, allocate a new one of a random
/// size, write its first and last bytes. Returns ns per replacement.
func churn<A: BenchAllocator>(
    _ a: inout A, slots: Int, ops: Int, sizes: (inout Random) -> Int,
    touchPages: Bool = false, keepLive: Bool = false
) -> Double {
    var rng = Random(seed: 0x5eed)
    let table = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: slots)
    table.initialize(repeating: nil, count: slots)
    defer { table.deallocate() }
    let start = nowNanoseconds()
    for _ in 0 ..< ops {
        let k = Int(rng.next() % UInt64(slots))
        if let old = table[k] { a.free(old) }
        let size = sizes(&rng)
        let p = a.allocate(size)
        if touchPages {
            var i = 0
            while i < size { p.storeBytes(of: 1, toByteOffset: i, as: UInt8.self); i += 4096 }
        }
        p.storeBytes(of: 1, as: UInt8.self)
        p.storeBytes(of: 1, toByteOffset: size - 1, as: UInt8.self)
        table[k] = p
    }
    let elapsed = nowNanoseconds() - start
    if !keepLive { for k in 0 ..< slots { if let p = table[k] { a.free(p) } } }
    return Double(elapsed) / Double(ops)
}

nonisolated(unsafe) let workloads: [Workload] =
    [
        Workload(name: "large-churn", allocators: mallocPeers) { allocator, quick in
            // 64 live slots, 16 KiB..8 MiB log-uniform.
            let ops = scaled(quick ? 5_000 : 50_000)
            let sizes: (inout Random) -> Int = { $0.logUniform(16 << 10, 8 << 20) }
            if allocator == "pas" { var a = LargeHeapAllocator(); return churn(&a, slots: 64, ops: ops, sizes: sizes) }
            var a = MallocAllocator(); return churn(&a, slots: 64, ops: ops, sizes: sizes)
        },
        Workload(name: "large-buffers", allocators: mallocPeers) { allocator, quick in
            // 20 buffers of 5..25 MiB replaced 2000 times, every page touched.
            let ops = scaled(quick ? 200 : 2_000)
            let sizes: (inout Random) -> Int = { $0.uniform(5 << 20, 25 << 20) }
            if allocator == "pas" {
                var a = LargeHeapAllocator(); return churn(&a, slots: 20, ops: ops, sizes: sizes, touchPages: true)
            }
            var a = MallocAllocator(); return churn(&a, slots: 20, ops: ops, sizes: sizes, touchPages: true)
        },
        Workload(name: "marge-churn", allocators: mallocPeers) { allocator, quick in
            // 1000 live slots, 1 KiB..(largest marge object) log-uniform.
            let ops = scaled(quick ? 100_000 : 1_000_000)
            let top = min(MargeBitfitConfig.maxObjectSize, 256 << 10)
            let sizes: (inout Random) -> Int = { $0.logUniform(1 << 10, top) }
            if allocator == "pas" { var a = MargeAllocator(); return churn(&a, slots: 1000, ops: ops, sizes: sizes) }
            var a = MallocAllocator(); return churn(&a, slots: 1000, ops: ops, sizes: sizes)
        },
        Workload(name: "bitfit-churn-16-256", allocators: mallocPeers) { allocator, quick in
            try bitfitChurn(allocator, lo: 16, hi: 256, quick: quick)
        },
        Workload(name: "bitfit-churn-16-4096", allocators: mallocPeers) { allocator, quick in
            try bitfitChurn(allocator, lo: 16, hi: 4096, quick: quick)
        },
    ]
    + JITShape.allCases.map { shape in
        Workload(name: "jit-\(shape.rawValue)", allocators: ["pas", "asmjit", "mmap"]) { allocator, quick in
            try runJIT(shape, allocator: allocator, quick: quick)
        }
    } + segregatedWorkloads() + mallocWorkloads()

/// Bitfit churn: 4096 live slots, 1M replacements of uniform lo...hi bytes. Pas routes sizes up
/// to 2 KiB to the small bitfit config (16 B granules) and larger ones to the medium config
/// (256 B granules). Records metadata bytes per live byte in `extra`.
func bitfitChurn(_ allocator: String, lo: Int, hi: Int, quick: Bool) throws -> Double {
    let ops = scaled(quick ? 100_000 : 1_000_000)
    let sizes: (inout Random) -> Int = { $0.uniform(lo, hi) }
    guard allocator == "pas" else { var a = MallocAllocator(); return churn(&a, slots: 4096, ops: ops, sizes: sizes) }
    var a = BitfitPairAllocator()
    let ns = churn(&a, slots: 4096, ops: ops, sizes: sizes, keepLive: true)
    let s = a.small.statistics, m = a.medium.statistics
    let live = max(1, s.liveBytes + m.liveBytes)
    extraMetrics["metadata bytes per live byte"] = Double(s.metadataBytes + m.metadataBytes) / Double(live)
    return ns
}

struct BitfitPairAllocator: BenchAllocator {
    let small = BitfitHeap<SmallBitfitConfig, ReservationChunkSource<SystemPageSource>>(
        chunks: ReservationChunkSource(source: SystemPageSource.shared))
    let medium = BitfitHeap<MediumBitfitConfig, ReservationChunkSource<SystemPageSource>>(
        chunks: ReservationChunkSource(source: SystemPageSource.shared))
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        size <= SmallBitfitConfig.maxObjectSize ? try! small.allocate(size: size) : try! medium.allocate(size: size)
    }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) {
        if small.owns(p) { try! small.deallocate(p) } else { try! medium.deallocate(p) }
    }
}

/// Extra figures a workload reports beside its time (printed in the report's notes).
nonisolated(unsafe) var extraMetrics: [String: Double] = [:]
