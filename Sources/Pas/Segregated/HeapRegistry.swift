import PasSystem
import Synchronization

/// What the registry knows about one segregated heap.
@usableFromInline
struct HeapSlot {
    /// The heap's metadata while alive: written under the heap's lock before the heap is used
    /// and after it is retired and drained (`retire`); read by threads inside it (`enter`).
    var core: UnsafeMutablePointer<SegregatedHeapCore>?
    /// First local-allocator slot of the heap in every thread cache. Written once at
    /// registration (under the registry lock), then read-only.
    var allocatorBase: Int
    /// Number of local-allocator slots (= size classes) of the heap. Written once.
    var classCount: Int
}

/// The process-wide table of segregated heaps, which lets several heaps share the one
/// thread-local slot.
///
/// Every heap gets an index (at most `maxHeaps`) and a contiguous range of local-allocator slots
/// (at most `maxAllocatorSlots` in total, one per size class). A thread cache holds one
/// `LocalAllocator` per slot, so a heap's fast path finds its allocator at a fixed offset from
/// the thread-local pointer. Indices and slots are never reused (a dead heap's slots may still
/// hold stale state in other threads' caches), so a process can create at most 4096 heaps and
/// 16384 size classes in its lifetime; `register` throws `.outOfMemory` past that.
///
/// Every lock of the segregated heaps lives here, in memory that is never freed, so that a
/// thread that read a lock's address from a page header can still take it after the page moved
/// on (it then sees the page name another lock and retries), and a thread cache flushing its
/// log or exiting can find out whether a heap is still alive.
///
/// Locks, in lock order (a thread takes them only in this order, and never two of one kind
/// except where noted):
/// -1. log locks (`logLocks`, one per thread node): a thread cache's deallocation log while it
///    is applied, by its owner or by the scavenger (`flushStaleLogs`); taken before the page
///    locks the frees need.
/// 0. decommit locks (`decommitLocks[i]`): held by heap i's decommit pass from choosing pages to
///    recording the outcome (it takes heap i's lock only inside); an allocation that needs a
///    page being decommitted waits for it holding no other lock.
/// 1. thread locks (`threadLocks`, one per live thread cache, handed out from a pool): the pages
///    that thread cache owns and that are biased to it (see `PageLock`). The owner takes its own
///    to take in remote frees and to give pages back; other threads take it to apply frees into
///    those pages. Only the fork handler holds several (all, in index order).
/// 2. directory locks (`directoryLocks`, one per allocator slot, i.e. per size class of each
///    heap): the class's eligible list, the pages of the class no thread owns (full, eligible),
///    and owned pages un-biased back to the directory after contention.
/// 3. heap locks (`heapLocks[i]`): heap i's rare state: chunks, fresh pages, the empty list and
///    the empty pages, the cold-start page, decommit bookkeeping. Taken before the chunk
///    source's own lock.
/// 4. `registryLock`: `heapCount`, `nextAllocator` and the thread-lock pool; a leaf.
///
/// Liveness: `heapGuards[i]` counts threads inside heap i from a thread cache (log flush, thread
/// exit) and has bit 0 set once the heap is retired; `retire` waits for the count to drain, so a
/// guarded thread may touch the heap's pages and core without its heap lock.
///
/// Fork: the registry is the `ForkParticipant` of every segregated heap (and so of every
/// `IsoHeap`), since their locks live here. At the `heap` stage it takes, in the lock order,
/// every log lock, every decommit lock, every thread lock handed out so far, every directory lock and every heap lock (dead heaps'
/// included: a thread flushing its log may hold one); at the `leaf` stage `registryLock`. A heap
/// registered after the counts were read has not been published, so no thread of the child can
/// reach it. The child clears the guards' counts: the threads inside heaps are not in the child.
@usableFromInline
final class HeapRegistry: @unchecked Sendable {
    static let maxHeaps = 4096
    static let maxAllocatorSlots = 16384
    /// Thread locks: at most this many thread caches hold one at a time; a thread cache created
    /// beyond that holds none and biases its pages to their directories' locks instead.
    static let maxThreadLocks = 1 << 16

    /// The registry, or nil if its metadata could not be mapped (then no heap can be created).
    static let shared: HeapRegistry? = HeapRegistry()

    /// One lock per heap index (see the type's locks; fork stage `heap`, all indices in order).
    let heapLocks: UnsafeMutablePointer<FutexLock>
    let slots: UnsafeMutablePointer<HeapSlot>
    /// One lock per allocator slot: heap h's class c uses `directoryLocks[allocatorBase(h) + c]`
    /// (lock order 2; fork stage `heap`).
    let directoryLocks: UnsafeMutablePointer<FutexLock>
    /// The thread nodes' thread locks (lock order 1; fork stage `heap`). Handed out with their
    /// nodes by `takeThreadNode`.
    let threadLocks: UnsafeMutablePointer<FutexLock>
    /// Free list of the thread-lock pool: the next free index + 1 for each free lock (0: end).
    /// Protected by `registryLock`.
    private let threadLockNext: UnsafeMutablePointer<Int32>
    private var threadLockFree = 0
    /// Thread locks handed out at least once (indices `0 ..< threadLockCount`); `registryLock`.
    private var threadLockCount = 0
    /// One decommit lock per heap index (lock order 0; fork stage `heap`).
    let decommitLocks: UnsafeMutablePointer<FutexLock>
    /// The thread nodes' log locks (lock order -1; fork stage `heap`): a thread cache's log
    /// flushes, its own and the scavenger's.
    let logLocks: UnsafeMutablePointer<FutexLock>
    /// The thread cache each thread node serves (its address), or 0. Written under the node's
    /// log lock once the node is handed out.
    let nodeCaches: UnsafeMutablePointer<Atomic<UInt>>
    /// Per thread node: `nodeIdle`, `nodeActive` (its cache took a page since it last stopped)
    /// or `nodeStopRequested` (the scavenger found it idle and set its cache's stop request;
    /// the owner gives its pages back on its next allocation slow path). The owner stores idle
    /// and active, the scavenger changes active to stop-requested with a compare-and-swap.
    let nodeStates: UnsafeMutablePointer<Atomic<Int>>
    /// The scavenger's view of each node: the cache's slow-path count at its last look, and
    /// when (coarse monotonic nanoseconds) it first saw that count. Under the node's log lock.
    private let nodeSeenSlowPaths: UnsafeMutablePointer<UInt64>
    private let nodeSeenSince: UnsafeMutablePointer<UInt64>
    static let nodeIdle = 0
    static let nodeActive = 1
    static let nodeStopRequested = 2
    /// The scavenger's participant for stale deallocation logs.
    let staleLogs = StaleLogFlusher()
    /// Per heap: 2 per thread inside the heap from a thread cache, plus 1 once retired.
    let heapGuards: UnsafeMutablePointer<Atomic<Int>>
    /// Protects `heapCount` and `nextAllocator`; a leaf (fork stage `leaf`).
    let registryLock = FutexLock()
    private var heapCount = 0
    private var nextAllocator = 0
    /// Heap, directory and thread locks the fork prepare handler took (indices below these
    /// counts). Written and read only by the forking thread, with the fork registry's lock held.
    private var forkLockedCount = 0
    private var forkLockedDirectories = 0
    private var forkLockedThreads = 0

    private init?() {
        let lockBytes = HeapRegistry.maxHeaps * MemoryLayout<FutexLock>.stride
        let slotOffset = (lockBytes + 63) & ~63
        let guardOffset = slotOffset + HeapRegistry.maxHeaps * MemoryLayout<HeapSlot>.stride
        let directoryOffset = (guardOffset + HeapRegistry.maxHeaps * MemoryLayout<Atomic<Int>>.stride + 63) & ~63
        let threadOffset = directoryOffset + HeapRegistry.maxAllocatorSlots * MemoryLayout<FutexLock>.stride
        let nextOffset = threadOffset + HeapRegistry.maxThreadLocks * MemoryLayout<FutexLock>.stride
        let decommitOffset = nextOffset + HeapRegistry.maxThreadLocks * MemoryLayout<Int32>.stride
        let logLockOffset = decommitOffset + HeapRegistry.maxHeaps * MemoryLayout<FutexLock>.stride
        let nodeCacheOffset = (logLockOffset + HeapRegistry.maxThreadLocks * MemoryLayout<FutexLock>.stride + 63) & ~63
        let nodeStateOffset = nodeCacheOffset + HeapRegistry.maxThreadLocks * MemoryLayout<Atomic<UInt>>.stride
        let seenOffset = nodeStateOffset + HeapRegistry.maxThreadLocks * MemoryLayout<Atomic<Int>>.stride
        let sinceOffset = seenOffset + HeapRegistry.maxThreadLocks * 8
        let total = sinceOffset + HeapRegistry.maxThreadLocks * 8
        // Invariant: this mapping is never released; locks in it outlive every heap and thread.
        guard let range = try? MetadataPages.allocate(byteCount: total) else { return nil }
        heapLocks = range.pointer.bindMemory(to: FutexLock.self, capacity: HeapRegistry.maxHeaps)
        for i in 0 ..< HeapRegistry.maxHeaps { (heapLocks + i).initialize(to: FutexLock()) }
        slots = (range.pointer + slotOffset).bindMemory(to: HeapSlot.self, capacity: HeapRegistry.maxHeaps)
        slots.initialize(
            repeating: HeapSlot(core: nil, allocatorBase: 0, classCount: 0),
            count: HeapRegistry.maxHeaps)
        heapGuards = (range.pointer + guardOffset).bindMemory(to: Atomic<Int>.self, capacity: HeapRegistry.maxHeaps)
        for i in 0 ..< HeapRegistry.maxHeaps { (heapGuards + i).initialize(to: Atomic(0)) }
        // Invariant: a FutexLock is its 32-bit state word and zero is a free lock, so the
        // zero-filled mapping already holds free locks; binding without initialising keeps the
        // pages of never-used locks untouched.
        directoryLocks = (range.pointer + directoryOffset).bindMemory(
            to: FutexLock.self, capacity: HeapRegistry.maxAllocatorSlots)
        threadLocks = (range.pointer + threadOffset).bindMemory(to: FutexLock.self, capacity: HeapRegistry.maxThreadLocks)
        threadLockNext = (range.pointer + nextOffset).bindMemory(to: Int32.self, capacity: HeapRegistry.maxThreadLocks)
        decommitLocks = (range.pointer + decommitOffset).bindMemory(to: FutexLock.self, capacity: HeapRegistry.maxHeaps)
        logLocks = (range.pointer + logLockOffset).bindMemory(to: FutexLock.self, capacity: HeapRegistry.maxThreadLocks)
        // Invariant: an `Atomic<UInt>` is its word, so the zero-filled mapping holds zeros.
        nodeCaches = (range.pointer + nodeCacheOffset).bindMemory(to: Atomic<UInt>.self, capacity: HeapRegistry.maxThreadLocks)
        nodeStates = (range.pointer + nodeStateOffset).bindMemory(to: Atomic<Int>.self, capacity: HeapRegistry.maxThreadLocks)
        nodeSeenSlowPaths = (range.pointer + seenOffset).bindMemory(to: UInt64.self, capacity: HeapRegistry.maxThreadLocks)
        nodeSeenSince = (range.pointer + sinceOffset).bindMemory(to: UInt64.self, capacity: HeapRegistry.maxThreadLocks)
        if ThreadLocalSlot.setDestructor(threadCacheDestructor) != 0 { return nil }
        ForkRegistry.register(self, stage: .heap)
        ForkRegistry.register(self, stage: .leaf)
    }

    /// Reserves an index and `classCount` allocator slots for a new heap whose metadata is `core`.
    func register(classCount: Int) throws(PasError) -> (index: Int, allocatorBase: Int) {
        registryLock.lock()
        defer { registryLock.unlock() }
        guard heapCount < HeapRegistry.maxHeaps,
            nextAllocator + classCount <= HeapRegistry.maxAllocatorSlots
        else {
            throw .outOfMemory(.allocate, requested: classCount)
        }
        let index = heapCount
        let base = nextAllocator
        heapCount += 1
        nextAllocator += classCount
        slots[index].allocatorBase = base
        slots[index].classCount = classCount
        return (index, base)
    }

    @inline(__always) func lock(heap index: Int) { (heapLocks + index).pointee.lock() }
    @inline(__always) func unlock(heap index: Int) { (heapLocks + index).pointee.unlock() }

    /// Publishes a heap's metadata. Caller holds no lock.
    func activate(heap index: Int, core: UnsafeMutablePointer<SegregatedHeapCore>) {
        lock(heap: index)
        slots[index].core = core
        unlock(heap: index)
    }

    /// Marks a heap dead and waits until no thread is inside it (`enter`); afterwards no thread
    /// cache touches its pages. Caller holds no lock.
    func retire(heap index: Int) {
        heapGuards[index].bitwiseOr(1, ordering: .sequentiallyConsistent)
        // A guarded thread holds at most page locks of this heap, never waits for this thread.
        var spins = 0
        while heapGuards[index].load(ordering: .acquiring) != 1 {
            spins += 1
            if spins & 63 == 0 { SystemThread.yield() }
        }
        // No thread is inside, and none can enter: `core` is read by no one from here on.
        lock(heap: index)
        slots[index].core = nil
        unlock(heap: index)
    }

    /// Enters heap `index` from a thread cache: returns its metadata, which stays valid (and the
    /// heap's pages mapped) until `exit(heap:)`, or nil if the heap is retired (then do not call
    /// `exit`). Cost: one atomic add. Caller holds no lock of this heap.
    @inline(__always) func enter(heap index: Int) -> UnsafeMutablePointer<SegregatedHeapCore>? {
        if heapGuards[index].add(2, ordering: .sequentiallyConsistent).newValue & 1 != 0 {
            heapGuards[index].subtract(2, ordering: .releasing)
            return nil
        }
        // Invariant: not retired, and `retire` waits for us, so `core` is set and stays valid.
        return slots[index].core
    }

    /// Leaves a heap entered with `enter(heap:)`. Cost: one atomic subtract.
    @inline(__always) func exit(heap index: Int) { heapGuards[index].subtract(2, ordering: .releasing) }

    /// Directory lock of allocator slot `slot` (a heap's allocator base plus a class).
    @inline(__always) func directoryLock(slot: Int) -> UnsafeMutablePointer<FutexLock> { directoryLocks + slot }

    /// True if `lock` is one of the pool's thread locks.
    @inline(__always) func isThreadLock(_ lock: UnsafeMutablePointer<FutexLock>) -> Bool {
        lock >= threadLocks && lock < threadLocks + HeapRegistry.maxThreadLocks
    }

    /// A thread node for new thread cache `cache` (its thread lock and log lock, see the
    /// type's locks), or nil if all `maxThreadLocks` are in use.
    func takeThreadNode(cache: UnsafeMutableRawPointer) -> Int? {
        registryLock.lock()
        defer { registryLock.unlock() }
        let index: Int
        if threadLockFree != 0 {
            index = threadLockFree - 1
            threadLockFree = Int(threadLockNext[index])
        } else {
            guard threadLockCount < HeapRegistry.maxThreadLocks else { return nil }
            index = threadLockCount
            threadLockCount += 1
        }
        nodeCaches[index].store(UInt(bitPattern: cache), ordering: .releasing)
        return index
    }

    /// Gives back a thread node taken with `takeThreadNode`. Precondition: no page names its
    /// thread lock (its thread cache gave every page back), its log is empty, and the caller
    /// holds neither of its locks. Another thread may still be about to take its thread lock
    /// for a page that named it before: it then finds the page naming another lock and retries,
    /// whichever cache holds the node by then.
    func returnThreadNode(_ index: Int) {
        // Under the log lock: the scavenger reaches a cache only through its node, under it.
        logLocks[index].lock()
        nodeCaches[index].store(0, ordering: .releasing)
        nodeStates[index].store(HeapRegistry.nodeIdle, ordering: .relaxed)
        nodeSeenSlowPaths[index] = .max
        nodeSeenSince[index] = 0
        logLocks[index].unlock()
        registryLock.lock()
        threadLockNext[index] = Int32(threadLockFree)
        threadLockFree = index + 1
        registryLock.unlock()
    }

    /// Node `index`'s thread lock and log lock.
    @inline(__always) func threadLock(node index: Int) -> UnsafeMutablePointer<FutexLock> { threadLocks + index }
    @inline(__always) func logLock(node index: Int) -> UnsafeMutablePointer<FutexLock> { logLocks + index }

    /// The scavenger's pass over the thread caches: for each one with a node, applies the
    /// entries it has not applied yet of a log whose first entry was logged at `limit` or
    /// earlier (coarse monotonic nanoseconds), under the node's log lock (see `ThreadCache`'s
    /// stale-log protocol), and asks an active cache whose last allocation slow path was
    /// `StaleLogFlusher.stopGrace` before `limit` or earlier to stop (`ThreadCache.noteSlowPath`). Publishes the earliest time of
    /// the younger logs and caches left into `staleLogs`' signal. Cost: one lock round trip per
    /// node, plus the frees. A pass for everything (`limit` is `UInt64.max`: `scavenge()`)
    /// applies every log but asks no cache to stop: it gives back empty pages, not the pages
    /// running threads allocate from. `only` limits the pass to one node (tests).
    func flushStaleLogs(startedBy limit: UInt64, only: Int? = nil) {
        registryLock.lock()
        let count = threadLockCount
        registryLock.unlock()
        let nodes = only.map { $0 ..< $0 + 1 } ?? 0 ..< count
        // Cleared first: an owner that starts a log during the pass stores its time.
        staleLogs.signal.publish(.max)
        var remaining = UInt64.max
        for i in nodes {
            logLocks[i].lock()
            if let cache = UnsafeMutableRawPointer(bitPattern: nodeCaches[i].load(ordering: .acquiring)) {
                // Invariant: the node names a live cache while its log lock is held (the cache
                // leaves its node under that lock before it is unmapped).
                let count = ThreadCache.logCount(cache).pointee.load(ordering: .acquiring)
                let header = ThreadCache.header(cache)
                let applied = header.pointee.appliedCount
                if count > applied {
                    let started = ThreadCache.logStart(cache).pointee.load(ordering: .relaxed)
                    if started <= limit {
                        ThreadCache.apply(cache, from: applied, to: count, freer: nil)
                        header.pointee.appliedCount = count
                    } else {
                        remaining = min(remaining, started)
                    }
                }
                if limit != .max, nodeStates[i].load(ordering: .relaxed) == HeapRegistry.nodeActive {
                    // Idle: no slow path since the count was first seen, `stopGrace` and the
                    // pool's delay ago. Reported to the pool as due `stopGrace` after that.
                    let count = ThreadCache.slowPaths(cache).pointee.load(ordering: .relaxed)
                    if count != nodeSeenSlowPaths[i] {
                        nodeSeenSlowPaths[i] = count
                        nodeSeenSince[i] = MonotonicClock.coarseNanoseconds()
                    }
                    let due = nodeSeenSince[i] &+ StaleLogFlusher.stopGrace
                    if due <= limit {
                        if nodeStates[i].compareExchange(
                            expected: HeapRegistry.nodeActive, desired: HeapRegistry.nodeStopRequested, ordering: .relaxed
                        ).exchanged {
                            ThreadCache.stopRequest(cache).pointee.store(1, ordering: .relaxed)
                        }
                    } else {
                        remaining = min(remaining, due)
                    }
                }
            }
            logLocks[i].unlock()
        }
        staleLogs.signal.lower(to: remaining)
    }

    /// Takes heap `index`'s directory locks (in class order) and then its heap lock. With them
    /// held no page of the heap changes state, owner or list; only pages that name a thread
    /// lock can change (their bits and counts, under that lock). For `verify` and `statistics`:
    /// they take such a page's thread lock with a try-lock (a thread lock comes first in the
    /// lock order, so waiting for one here could deadlock) and start over when it is busy.
    /// Cost: one lock round trip per class.
    func lockDirectories(heap index: Int) {
        let base = slots[index].allocatorBase
        for c in 0 ..< slots[index].classCount { directoryLocks[base + c].lock() }
        lock(heap: index)
    }

    /// Releases what `lockDirectories(heap:)` took.
    func unlockDirectories(heap index: Int) {
        unlock(heap: index)
        let base = slots[index].allocatorBase
        for c in 0 ..< slots[index].classCount { directoryLocks[base + c].unlock() }
    }
}

extension HeapRegistry: ForkParticipant {
    @usableFromInline func prepareForFork(_ stage: ForkStage) {
        switch stage {
        case .heap:
            registryLock.lock()
            forkLockedCount = heapCount
            forkLockedDirectories = nextAllocator
            forkLockedThreads = threadLockCount
            registryLock.unlock()
            // Plain loops: handlers must not instantiate generic metadata (see `ForkParticipant`).
            var i = 0
            while i < forkLockedThreads { logLocks[i].lock(); i += 1 }
            i = 0
            while i < forkLockedCount { decommitLocks[i].lock(); i += 1 }
            i = 0
            while i < forkLockedThreads { threadLocks[i].lock(); i += 1 }
            i = 0
            while i < forkLockedDirectories { directoryLocks[i].lock(); i += 1 }
            i = 0
            while i < forkLockedCount { lock(heap: i); i += 1 }
        case .leaf: registryLock.lock()
        default: break
        }
    }

    @usableFromInline func parentAfterFork(_ stage: ForkStage) {
        switch stage {
        case .heap:
            var i = forkLockedCount
            while i > 0 { i -= 1; unlock(heap: i) }
            i = forkLockedDirectories
            while i > 0 { i -= 1; directoryLocks[i].unlock() }
            i = forkLockedThreads
            while i > 0 { i -= 1; threadLocks[i].unlock() }
            i = forkLockedCount
            while i > 0 { i -= 1; decommitLocks[i].unlock() }
            i = forkLockedThreads
            while i > 0 { i -= 1; logLocks[i].unlock() }
        case .leaf: registryLock.unlock()
        default: break
        }
    }

    @usableFromInline func childAfterFork(_ stage: ForkStage) {
        if stage == .heap {
            // The threads that were inside heaps are not in the child; keep the retired bits.
            var i = 0
            while i < forkLockedCount {
                let v = heapGuards[i].load(ordering: .relaxed)
                heapGuards[i].store(v & 1, ordering: .relaxed)
                i += 1
            }
        }
        parentAfterFork(stage)
    }
}

/// Runs at thread exit (through `ThreadLocalSlot`'s destructor) with the thread cache's address.
let threadCacheDestructor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { cache in
    if let cache { ThreadCache.destroy(cache) }
}
