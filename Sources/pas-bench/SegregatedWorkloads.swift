import Pas
import PasSystem

/// The segregated heap through its Swift API (in process, unchecked fast paths), beside the
/// peers' malloc/free in the same shapes: `pas-bench segregated`.
struct SegregatedAllocator: BenchAllocator, @unchecked Sendable {
    typealias Heap = SegregatedHeap<MediumPagesConfig, ReservationChunkSource<SystemPageSource>>
    let heap: Heap
    nonisolated(unsafe) static let shared: Heap = try! Heap()
    init() { heap = Self.shared }
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer { heap.allocateUnchecked(size: size)! }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) { heap.deallocateUnchecked(p) }
}

let segregatedPeers = ["pas", "glibc", "mimalloc", "jemalloc", "tcmalloc"]

func segregatedWorkloads() -> [Workload] {
    var list: [Workload] = []
    for size in [16, 64, 256, 1024] {
        list.append(
            Workload(name: "segregated-hot-\(size)", allocators: segregatedPeers) { allocator, quick in
                let pairs = scaled(quick ? 2_000_000 : 20_000_000)
                return allocator == "pas"
                    ? hotPair(SegregatedAllocator(), size: size, pairs: pairs)
                    : hotPair(SystemMalloc(), size: size, pairs: pairs)
            })
    }
    list.append(
        Workload(name: "segregated-churn-1k-16-512", allocators: segregatedPeers) { allocator, quick in
            let ops = scaled(quick ? 2_000_000 : 20_000_000)
            if allocator == "pas" {
                var a = SegregatedAllocator(); return churn(&a, slots: 1000, ops: ops, sizes: { $0.uniform(16, 512) })
            }
            var a = SystemMalloc(); return churn(&a, slots: 1000, ops: ops, sizes: { $0.uniform(16, 512) })
        })
    list.append(
        Workload(name: "segregated-larson-private", allocators: segregatedPeers) { allocator, quick in
            let pairs = scaled(quick ? 500_000 : 5_000_000)
            return allocator == "pas"
                ? larson(SegregatedAllocator(), slots: 10_000, pairs: pairs, swap: false)
                : larson(SystemMalloc(), slots: 10_000, pairs: pairs, swap: false)
        })
    list.append(
        Workload(name: "segregated-larson-private-1-thread", allocators: segregatedPeers) { allocator, quick in
            let pairs = scaled(quick ? 500_000 : 5_000_000)
            return allocator == "pas"
                ? larson(SegregatedAllocator(), slots: 10_000, pairs: pairs, swap: false, threads: 1)
                : larson(SystemMalloc(), slots: 10_000, pairs: pairs, swap: false, threads: 1)
        })
    list.append(
        Workload(name: "segregated-larson-swap", allocators: segregatedPeers) { allocator, quick in
            let pairs = scaled(quick ? 300_000 : 3_000_000)
            return allocator == "pas"
                ? larson(SegregatedAllocator(), slots: 10_000, pairs: pairs, swap: true)
                : larson(SystemMalloc(), slots: 10_000, pairs: pairs, swap: true)
        })
    list.append(
        Workload(name: "segregated-producer-consumer", allocators: segregatedPeers) { allocator, quick in
            let objects = scaled(quick ? 500_000 : 5_000_000)
            return allocator == "pas"
                ? producerConsumer(SegregatedAllocator(), objects: objects)
                : producerConsumer(SystemMalloc(), objects: objects)
        })
    return list
}
