#if canImport(Glibc)
import Glibc
#endif
import PasSystem
import Synchronization
import CPasShim

/// General-purpose workloads. They call `malloc` / `free` through the normal dynamic symbols,
/// so `LD_PRELOAD` swaps the allocator: peers are preloaded Debian libraries, and Pas runs as
/// its preloaded malloc-compatible library (`pas-preload`). Every allocated block is written.

let preloadPeers = ["pas-preload", "glibc", "mimalloc", "jemalloc", "tcmalloc"]

/// W1: malloc(size) then free, `pairs` times. Ns per pair.
func hotPair<A: BenchAllocator>(_ a: A, size: Int, pairs: Int) -> Double {
    var a = a
    let sink = escapeSink
    let start = nowNanoseconds()
    for _ in 0 ..< pairs {
        let p = a.allocate(size)
        p.storeBytes(of: 1, as: UInt8.self)
        // Publishing the pointer keeps the compiler from folding the malloc/free pair away.
        sink.pointee = p
        a.free(sink.pointee!)
    }
    return Double(nowNanoseconds() - start) / Double(pairs)
}

/// Where benchmark loops publish pointers so the optimiser cannot remove their allocations.
nonisolated(unsafe) let escapeSink: UnsafeMutablePointer<UnsafeMutableRawPointer?> = {
    let p = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
    p.initialize(to: nil)
    return p
}()

/// W3: allocate `k` blocks of 16..512 B, then free them in `order` (LIFO or FIFO); repeated
/// until `total` blocks. Ns per malloc+free.
func batches<A: BenchAllocator>(_ a: A, k: Int, lifo: Bool, total: Int) -> Double {
    var a = a
    var rng = Random(seed: 0xBA7C)
    let table = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: k)
    defer { table.deallocate() }
    let rounds = max(1, total / k)
    let start = nowNanoseconds()
    for _ in 0 ..< rounds {
        for i in 0 ..< k {
            let p = a.allocate(rng.uniform(16, 512))
            p.storeBytes(of: 1, as: UInt8.self)
            table[i] = p
        }
        if lifo {
            for i in stride(from: k - 1, through: 0, by: -1) { a.free(table[i]) }
        } else {
            for i in 0 ..< k { a.free(table[i]) }
        }
    }
    return Double(nowNanoseconds() - start) / Double(rounds * k)
}

/// A malloc-based churn allocator for `churn`.
struct SystemMalloc: BenchAllocator, Sendable {
    @inline(__always) mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer { malloc(size)! }
    @inline(__always) mutating func free(_ p: UnsafeMutableRawPointer) { Glibc.free(p) }
}

/// Pins the calling thread to `cpu` (modulo the CPUs online), as the benchmark plan asks for
/// two-thread workloads. Failure (a restricted affinity mask) is ignored.
func pinCurrentThread(to cpu: Int) {
    _ = pas_shim_pin_current_thread(Int32(cpu))
}

/// Runs `body(thread)` on `count` threads at once, thread i pinned to CPU i; returns wall nanoseconds.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> UInt64 {
    final class Box: @unchecked Sendable {
        let body: @Sendable (Int) -> Void; let index: Int
        init(_ b: @escaping @Sendable (Int) -> Void, _ i: Int) { body = b; index = i }
    }
    var threads = [pthread_t](repeating: pthread_t(), count: count)
    let start = nowNanoseconds()
    for i in 0 ..< count {
        let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
        pthread_create(
            &threads[i], nil,
            { arg in
                let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
                pinCurrentThread(to: box.index)
                box.body(box.index)
                return nil
            }, box)
    }
    for t in threads { pthread_join(t, nil) }
    return nowNanoseconds() - start
}

/// The two larson threads' slot arrays and their barrier.
final class LarsonShared: @unchecked Sendable {
    var arrays: [UnsafeMutablePointer<UnsafeMutableRawPointer?>]
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    init(_ n: Int, _ slots: Int) {
        arrays = (0 ..< n).map { _ in
            let a = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: slots)
            a.initialize(repeating: nil, count: slots)
            return a
        }
        barrier = .allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(n))
    }
}

/// The producer/consumer ring: slots plus head (producer) and tail (consumer) counters.
final class ProducerRing: @unchecked Sendable {
    let capacity = 1 << 16
    let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let head = Atomic<Int>(0) // written by the producer (release), read by the consumer (acquire)
    let tail = Atomic<Int>(0) // written by the consumer, read by the producer
    init() {
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: nil, count: capacity)
    }
}

/// W4/W5: larson. `threads` threads (two unless asked), each with `slots` blocks of 16..1024 B,
/// replace a random slot `pairs` times; with `swap` (two threads), the threads exchange arrays
/// every 10k replacements (so about half of the frees are of blocks the other thread
/// allocated). Wall ns per pair, over all threads: a 1-thread figure divided by the 2-thread
/// one is the scaling (2 at best).
func larson<A: BenchAllocator & Sendable>(_ allocator: A, slots: Int, pairs: Int, swap: Bool, threads: Int = 2) -> Double {
    precondition(threads >= 1 && (!swap || threads == 2), "larson swaps between exactly two threads")
    let shared = LarsonShared(threads, slots)
    let rounds = max(1, pairs / 10_000)
    let wall = onThreads(threads) { t in
        var rng = Random(seed: UInt64(0x1A45 + t))
        var heap = allocator
        for round in 0 ..< rounds {
            let a = shared.arrays[swap ? (t + round) % 2 : t]
            for _ in 0 ..< 10_000 {
                let k = Int(rng.next() % UInt64(slots))
                if let old = a[k] { heap.free(old) }
                let p = heap.allocate(rng.uniform(16, 1024))
                p.storeBytes(of: 1, as: UInt8.self)
                a[k] = p
            }
            if swap { pthread_barrier_wait(shared.barrier) }
        }
    }
    var heap = allocator
    for a in shared.arrays { for k in 0 ..< slots { if let p = a[k] { heap.free(p) } }; a.deallocate() }
    return Double(wall) / Double(rounds * 10_000 * threads)
}

/// W6: a producer thread mallocs 16..512 B blocks and writes them; a consumer frees them.
/// Blocks pass through a ring published every 64 items. Ns per object (wall).
func producerConsumer<A: BenchAllocator & Sendable>(_ allocator: A, objects: Int) -> Double {
    let ring = ProducerRing()
    let wall = onThreads(2) { t in
        var heap = allocator
        if t == 0 {
            var rng = Random(seed: 0x9C)
            var produced = 0
            while produced < objects {
                // Wait for room for a batch of 64.
                while produced - ring.tail.load(ordering: .acquiring) > ring.capacity - 64 { sched_yield() }
                for _ in 0 ..< 64 {
                    let p = heap.allocate(rng.uniform(16, 512))
                    p.storeBytes(of: 1, as: UInt8.self)
                    ring.slots[produced & (ring.capacity - 1)] = p
                    produced += 1
                }
                ring.head.store(produced, ordering: .releasing)
            }
        } else {
            var consumed = 0
            while consumed < objects {
                let available = ring.head.load(ordering: .acquiring)
                if available == consumed { sched_yield(); continue }
                while consumed < available {
                    heap.free(ring.slots[consumed & (ring.capacity - 1)]!)
                    consumed += 1
                }
                ring.tail.store(consumed, ordering: .releasing)
            }
        }
    }
    return Double(wall) / Double(objects)
}

/// W7: inverse-square sizes 4 B..32 KiB (small sizes far more likely), 1000 live slots.
func inverseSquareSize(_ rng: inout Random) -> Int {
    let u = Double(rng.next() >> 11) / Double(1 << 53)
    return min(32 << 10, max(4, Int(4.0 / max(1e-9, (1 - u) * (1 - u) + 1e-4))))
}

/// W8: allocate `megabytes` of 16..512 B blocks (every byte written), free the oldest 90% (or a
/// random 90%), then sample RSS with no calls at 0, 0.1, 0.3, 0.5, 1 and 2 s (recorded in
/// `extraMetrics`). Returns RSS in MiB at 1 s.
func rssReturn<A: BenchAllocator>(_ a: A, megabytes: Int, random: Bool) -> Double {
    var a = a
    var rng = Random(seed: 0x855)
    var blocks: [UnsafeMutableRawPointer] = []
    var total = 0
    while total < megabytes << 20 {
        let n = rng.uniform(16, 512)
        let p = a.allocate(n)
        memset(p, 1, n)
        blocks.append(p)
        total += n
    }
    let count = blocks.count * 9 / 10
    if random {
        // Fisher-Yates over the first `count` positions picks a random 90%.
        for i in 0 ..< count {
            let j = i + Int(rng.next() % UInt64(blocks.count - i))
            blocks.swapAt(i, j)
        }
    }
    for p in blocks.prefix(count) { a.free(p) }
    let start = nowNanoseconds()
    var at1s = 0.0
    for ms in [0, 100, 300, 500, 1000, 2000] {
        let target = start + UInt64(scaled(ms * 1_000_000))
        let now = nowNanoseconds()
        if target > now { usleep(UInt32((target - now) / 1000)) }
        let mib = Double(SystemInfo.residentBytes()) / Double(1 << 20)
        extraMetrics["RSS MiB at " + String(repeating: "0", count: 4 - String(ms).count) + "\(ms) ms"] = mib
        if ms == 1000 { at1s = mib }
    }
    extraMetrics["live MiB"] = Double(total) * 0.1 / Double(1 << 20)
    for p in blocks.suffix(blocks.count - count) { a.free(p) }
    return at1s
}

/// W9: 1000 short-lived threads, each allocating 100 blocks and freeing half; main frees the rest.
func threadChurn(threads: Int) -> Double {
    final class Leftovers: @unchecked Sendable { var blocks: [UnsafeMutableRawPointer] = []; var lock = pthread_mutex_t() }
    let left = Leftovers()
    pthread_mutex_init(&left.lock, nil)
    let start = nowNanoseconds()
    for _ in 0 ..< threads / 2 {
        _ = onThreads(2) { t in
            var rng = Random(seed: UInt64(0x7C + t))
            var mine: [UnsafeMutableRawPointer] = []
            mine.reserveCapacity(100)
            for _ in 0 ..< 100 { let p = malloc(rng.uniform(16, 512))!; p.storeBytes(of: 1, as: UInt8.self); mine.append(p) }
            for p in mine.prefix(50) { free(p) }
            pthread_mutex_lock(&left.lock)
            left.blocks.append(contentsOf: mine.suffix(50))
            pthread_mutex_unlock(&left.lock)
        }
    }
    for p in left.blocks { free(p) }
    return Double(nowNanoseconds() - start) / Double(threads)
}

/// W10, cache-scratch: each of two threads allocates small objects one after the other and
/// writes each many times. If the allocator hands the two threads objects on one cache line, every
/// write bounces the line between the CPUs and the time per write jumps (pass/fail on 2 cores:
/// compare with the peers). Ns per write.
func cacheScratch<A: BenchAllocator & Sendable>(_ allocator: A, objects: Int, writes: Int) -> Double {
    let wall = onThreads(2) { _ in
        var heap = allocator
        for _ in 0 ..< objects {
            let p = heap.allocate(8)
            // Relaxed atomic loads and stores are plain moves the optimiser may not fold away.
            // Invariant: the block is 8 bytes, 8-aligned, and only this thread touches it.
            let word = p.bindMemory(to: Atomic<UInt64>.self, capacity: 1)
            for i in 0 ..< writes {
                word.pointee.store(word.pointee.load(ordering: .relaxed) &+ UInt64(i), ordering: .relaxed)
            }
            heap.free(p)
        }
    }
    return Double(wall) / Double(objects * writes)
}

func mallocWorkloads() -> [Workload] {
    var list: [Workload] = []
    for size in [16, 64, 256, 1024, 8192] {
        list.append(
            Workload(name: "malloc-hot-\(size)", allocators: preloadPeers) { _, quick in
                hotPair(SystemMalloc(), size: size, pairs: scaled(quick ? 1_000_000 : 10_000_000))
            })
    }
    for (slots, label) in [(1000, "1k"), (100_000, "100k")] {
        list.append(
            Workload(name: "malloc-churn-\(label)-16-512", allocators: preloadPeers) { _, quick in
                var a = SystemMalloc()
                return churn(&a, slots: slots, ops: scaled(quick ? 1_000_000 : 10_000_000), sizes: { $0.uniform(16, 512) })
            })
        list.append(
            Workload(name: "malloc-churn-\(label)-log-16-4096", allocators: preloadPeers) { _, quick in
                var a = SystemMalloc()
                return churn(&a, slots: slots, ops: scaled(quick ? 1_000_000 : 10_000_000), sizes: { $0.logUniform(16, 4096) })
            })
    }
    for k in [100, 1600] {
        list.append(
            Workload(name: "malloc-batch-lifo-\(k)", allocators: preloadPeers) { _, quick in
                batches(SystemMalloc(), k: k, lifo: true, total: scaled(quick ? 1_000_000 : 10_000_000))
            })
        list.append(
            Workload(name: "malloc-batch-fifo-\(k)", allocators: preloadPeers) { _, quick in
                batches(SystemMalloc(), k: k, lifo: false, total: scaled(quick ? 1_000_000 : 10_000_000))
            })
    }
    list.append(
        Workload(name: "malloc-larson-private", allocators: preloadPeers) { _, quick in
            larson(SystemMalloc(), slots: 10_000, pairs: scaled(quick ? 500_000 : 5_000_000), swap: false)
        })
    list.append(
        Workload(name: "malloc-larson-private-1-thread", allocators: preloadPeers) { _, quick in
            larson(SystemMalloc(), slots: 10_000, pairs: scaled(quick ? 500_000 : 5_000_000), swap: false, threads: 1)
        })
    list.append(
        Workload(name: "malloc-larson-swap", allocators: preloadPeers) { _, quick in
            larson(SystemMalloc(), slots: 10_000, pairs: scaled(quick ? 300_000 : 3_000_000), swap: true)
        })
    list.append(
        Workload(name: "malloc-producer-consumer", allocators: preloadPeers) { _, quick in
            producerConsumer(SystemMalloc(), objects: scaled(quick ? 500_000 : 5_000_000))
        })
    list.append(
        Workload(name: "malloc-inverse-square", allocators: preloadPeers) { _, quick in
            var a = SystemMalloc()
            return churn(&a, slots: 1000, ops: scaled(quick ? 500_000 : 5_000_000), sizes: inverseSquareSize)
        })
    for random in [false, true] {
        list.append(
            Workload(name: "rss-\(random ? "random" : "oldest")90-mib-at-1s", allocators: ["pas"] + preloadPeers) {
                allocator, quick in
                let megabytes = scaled(quick ? 128 : 1024)
                return allocator == "pas"
                    ? rssReturn(SegregatedAllocator(), megabytes: megabytes, random: random)
                    : rssReturn(SystemMalloc(), megabytes: megabytes, random: random)
            })
    }
    list.append(
        Workload(name: "malloc-cache-scratch", allocators: preloadPeers) { _, quick in
            cacheScratch(SystemMalloc(), objects: scaled(quick ? 1000 : 10_000), writes: 1000)
        })
    list.append(
        Workload(name: "malloc-thread-churn", allocators: preloadPeers) { _, quick in
            threadChurn(threads: scaled(quick ? 200 : 1000))
        })
    return list
}
