import PasSystem
import Synchronization

/// The fields at the start of a thread cache. Owner only, but where a field says otherwise.
@usableFromInline
struct ThreadCacheHeader {
    /// The mapping that holds the cache.
    var region: MemoryRange
    /// Bytes of the objects the deallocation log holds (their pages' object sizes).
    var logBytes: Int
    /// This cache's thread node in the registry (its thread lock and log lock), or -1 if the
    /// pool was exhausted: its pages then use their directories' locks, and the scavenger
    /// cannot reach its log. Written once at creation.
    var node: Int
    /// This cache's thread lock (lock order 1), to which the pages it takes are biased; nil
    /// without a node. Written once at creation.
    var threadLock: UnsafeMutablePointer<FutexLock>?
    /// Log entries below this index have been applied by the scavenger
    /// (`HeapRegistry.flushStaleLogs`). Read and written under the node's log lock.
    var appliedCount: Int
}

/// Per-thread state of every segregated heap, in raw memory reached from the one
/// initial-exec thread-local pointer (`ThreadLocalSlot` in PasSystem).
///
/// Layout (one private mapping per thread, `byteCount` bytes, touched lazily):
/// - offset 0: `ThreadCacheHeader`;
/// - offset 64: a bitmap of the heaps (by registry index) in which this thread has held pages;
/// - offset 640: the log's entry count, the time its first entry was logged, a count of
///   allocation slow paths and a stop request (atomics: the scavenger reads or writes them);
/// - offset 1024: the deallocation log, `logCapacity` words. Each entry is an object address with
///   its heap's index in bits 48...63 (user addresses fit in 47 bits);
/// - offset `allocatorsOffset`: one `LocalAllocator` per allocator slot of the `HeapRegistry`,
///   indexed by (heap's allocator base + size class).
///
/// Frees of objects in pages this thread does not own are appended to the log; when the log is
/// full or holds `logByteLimit` bytes of objects (and at thread exit, and before checked
/// operations) it is flushed, so a log of large objects never pins more than about a MiB of
/// freed memory: each entry is applied under its page's lock (`PageLock`), and the flush
/// switches locks only when an entry's page names another lock than the one it holds, so frees
/// into the pages of one owner cost a log append plus a share of one lock round trip.
///
/// At thread exit the destructor returns every owned page to its heap (if that heap is still
/// alive), flushes the log and unmaps the cache.
///
/// Stale logs: a thread that logs frees and then sleeps would pin the memory they free. The
/// scavenger applies logs whose first entry is older than the pool's delay
/// (`HeapRegistry.flushStaleLogs`), under the thread node's log lock, which the owner's own
/// flush also takes. The owner appends without it: it writes the entry, then stores the count
/// with release ordering; the scavenger loads the count with acquire ordering, applies the
/// entries from `appliedCount` up to it and records how far it got, and the owner's next flush
/// starts there. The owner rewrites an entry only after its own flush (under the lock) set the
/// count back to 0.
///
/// Thread-safety: only the owning thread reads or writes a cache, except as said above.
@usableFromInline
enum ThreadCache {
    @usableFromInline static let logOffset = 1024
    static let touchedHeapsOffset = 64
    /// `Atomic<Int>`: entries used in the deallocation log (written by the owner).
    static let logCountOffset = 640
    /// `Atomic<UInt64>`: coarse monotonic time of the log's first entry (written by the owner).
    static let logStartOffset = 648
    /// `Atomic<UInt64>`: allocation slow paths the owner ran (the scavenger watches it).
    static let slowPathsOffset = 656
    /// `Atomic<Int>`: 1 when the scavenger asks the owner to give its pages back.
    static let stopRequestOffset = 664
    @usableFromInline static let logCapacity = 512
    /// Object bytes at which the log is flushed before it is full: 64 objects of the largest
    /// medium class, 512 of 2 KiB.
    static let logByteLimit = 1 << 20
    @usableFromInline static let allocatorsOffset = 8192
    static var byteCount: Int {
        allocatorsOffset + HeapRegistry.maxAllocatorSlots * LocalAllocator.stride
    }
    /// Mask of the address part of a log entry.
    @usableFromInline static let addressMask: UInt = (1 << 48) - 1

    /// The calling thread's cache, or nil. Cost: one %fs-relative load.
    @inlinable @inline(__always)
    static var current: UnsafeMutableRawPointer? { ThreadLocalSlot.load() }

    /// The calling thread's cache, created on first use; nil if no memory could be mapped.
    /// Cost once the cache exists: one %fs-relative load (inlined).
    @inline(__always)
    static func currentOrCreate() -> UnsafeMutableRawPointer? {
        if let cache = ThreadLocalSlot.load() { return cache }
        return create()
    }

    /// Maps, installs and returns the calling thread's cache (it has none); nil if no memory
    /// could be mapped.
    @inline(never)
    static func create() -> UnsafeMutableRawPointer? {
        guard HeapRegistry.shared != nil,
            let range = try? MetadataPages.allocate(byteCount: byteCount)
        else { return nil }
        let cache = range.pointer
        // Invariant: the mapping is private to this thread until `destroy` unmaps it; its memory
        // reads zero, which is an empty log and empty allocators.
        let header = cache.bindMemory(to: ThreadCacheHeader.self, capacity: 1)
        header.pointee.region = range
        (cache + logCountOffset).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        (cache + logStartOffset).bindMemory(to: Atomic<UInt64>.self, capacity: 1).initialize(to: Atomic(0))
        (cache + slowPathsOffset).bindMemory(to: Atomic<UInt64>.self, capacity: 1).initialize(to: Atomic(0))
        (cache + stopRequestOffset).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        let node = HeapRegistry.shared?.takeThreadNode(cache: cache) ?? -1
        header.pointee.node = node
        header.pointee.threadLock = node >= 0 ? HeapRegistry.shared?.threadLock(node: node) : nil
        (cache + touchedHeapsOffset).bindMemory(to: UInt64.self, capacity: HeapRegistry.maxHeaps / 64)
        (cache + logOffset).bindMemory(to: UInt.self, capacity: logCapacity)
        (cache + allocatorsOffset).bindMemory(to: LocalAllocator.self, capacity: HeapRegistry.maxAllocatorSlots)
        ThreadLocalSlot.store(cache)
        ThreadLocalSlot.armDestructor(cache)
        return cache
    }

    @inlinable @inline(__always)
    static func header(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<ThreadCacheHeader> {
        cache.assumingMemoryBound(to: ThreadCacheHeader.self)
    }

    @inlinable @inline(__always)
    static func allocator(_ cache: UnsafeMutableRawPointer, slot: Int) -> UnsafeMutablePointer<LocalAllocator> {
        cache.advanced(by: allocatorsOffset &+ (slot &<< LocalAllocator.strideShift))
            .assumingMemoryBound(to: LocalAllocator.self)
    }

    @inlinable @inline(__always)
    static func log(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt> {
        cache.advanced(by: logOffset).assumingMemoryBound(to: UInt.self)
    }

    /// The log's entry count (see the type's stale-log protocol).
    @inline(__always)
    static func logCount(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<Int>> {
        cache.advanced(by: logCountOffset).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// When the log's first entry was logged (coarse monotonic nanoseconds).
    @inline(__always)
    static func logStart(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        cache.advanced(by: logStartOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The cache's thread lock, or nil if it has none.
    @inline(__always)
    static func threadLock(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<FutexLock>? {
        header(cache).pointee.threadLock
    }

    /// Allocation slow paths the owner ran; the scavenger compares it between passes.
    @inline(__always)
    static func slowPaths(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        cache.advanced(by: slowPathsOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// 1 when the scavenger found the cache idle and asks it to give its pages back.
    @inline(__always)
    static func stopRequest(_ cache: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<Int>> {
        cache.advanced(by: stopRequestOffset).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// Start of an allocation slow path: counts it and, if the scavenger asked this idle cache
    /// to stop (`HeapRegistry.flushStaleLogs`), first gives back every page it holds in every
    /// heap, so memory an idle class kept comes back. Cost otherwise: two relaxed loads and a
    /// relaxed store, all on the cache's first lines.
    @inline(__always)
    static func noteSlowPath(_ cache: UnsafeMutableRawPointer, registry: HeapRegistry) {
        let count = slowPaths(cache)
        count.pointee.store(count.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        if stopRequest(cache).pointee.load(ordering: .relaxed) != 0 { stop(cache, registry: registry) }
    }

    /// Honours a stop request: marks the node idle, then gives back every page the cache holds.
    @inline(never)
    static func stop(_ cache: UnsafeMutableRawPointer, registry: HeapRegistry) {
        stopRequest(cache).pointee.store(0, ordering: .relaxed)
        let node = header(cache).pointee.node
        if node >= 0 { registry.nodeStates[node].store(HeapRegistry.nodeIdle, ordering: .relaxed) }
        releaseEveryPage(cache, registry: registry)
    }

    /// A page was taken: marks the node active (once per activity), so the scavenger watches
    /// the cache (`StaleLogFlusher`).
    @inline(__always)
    static func noteTookPage(_ cache: UnsafeMutableRawPointer, registry: HeapRegistry) {
        let node = header(cache).pointee.node
        guard node >= 0, registry.nodeStates[node].load(ordering: .relaxed) != HeapRegistry.nodeActive else { return }
        registry.nodeStates[node].store(HeapRegistry.nodeActive, ordering: .relaxed)
        // An early time is allowed (the pass then finds the cache not due yet and reports when it is).
        registry.staleLogs.noteActivity(at: MonotonicClock.coarseNanoseconds())
    }

    /// Gives back the pages this thread holds in every live heap it touched. Runs on the
    /// owning thread; caller holds no lock.
    static func releaseEveryPage(_ cache: UnsafeMutableRawPointer, registry: HeapRegistry) {
        let bits = cache.advanced(by: touchedHeapsOffset).assumingMemoryBound(to: UInt64.self)
        for w in 0 ..< HeapRegistry.maxHeaps / 64 {
            var word = bits[w]
            while word != 0 {
                let index = w * 64 + word.trailingZeroBitCount
                word &= word &- 1
                if let core = registry.enter(heap: index) {
                    SegregatedHeapCore.releaseAll(core, cache: cache)
                    registry.exit(heap: index)
                }
            }
        }
    }

    /// Records that this thread holds (or held) pages of heap `index` (slow paths only).
    static func noteHeld(_ cache: UnsafeMutableRawPointer, heap index: Int) {
        let bits = cache.advanced(by: touchedHeapsOffset).assumingMemoryBound(to: UInt64.self)
        bits[index >> 6] |= UInt64(1) << UInt64(index & 63)
    }

    /// Appends a free of an object of `bytes` bytes to the log, flushing it when it is full or
    /// holds `logByteLimit` bytes.
    /// The first entry after a flush stamps the log and, once the stale-log flusher is in a
    /// pool, tells it (one relaxed load unless it has no pending log).
    @usableFromInline
    static func logFree(_ cache: UnsafeMutableRawPointer, entry: UInt, bytes: Int) {
        let h = header(cache)
        let count = logCount(cache).pointee.load(ordering: .relaxed)
        log(cache)[count] = entry
        if count == 0 { stampLog(cache) }
        // Release: the scavenger that sees the count sees the entries below it.
        logCount(cache).pointee.store(count &+ 1, ordering: .releasing)
        let logged = h.pointee.logBytes &+ bytes
        h.pointee.logBytes = logged
        if count &+ 1 == logCapacity || logged >= logByteLimit { flushLog(cache) }
    }

    /// The log's first entry since its last flush: stamps the log and tells the stale-log
    /// flusher. Out of line, so the append itself needs no stack frame.
    @inline(never)
    static func stampLog(_ cache: UnsafeMutableRawPointer) {
        let now = MonotonicClock.coarseNanoseconds()
        logStart(cache).pointee.store(now, ordering: .relaxed)
        if let registry = HeapRegistry.shared { registry.staleLogs.noteActivity(at: now) }
    }

    /// Applies every logged free under its page's lock (the scavenger may have applied the
    /// first ones: see the type's stale-log protocol); frees of dead heaps are dropped. Holds
    /// the thread node's log lock. Caller holds no heap lock.
    @usableFromInline
    static func flushLog(_ cache: UnsafeMutableRawPointer) {
        let h = header(cache)
        let count = logCount(cache).pointee.load(ordering: .relaxed)
        guard count > 0, let registry = HeapRegistry.shared else { return }
        let node = h.pointee.node
        if node >= 0 { registry.logLock(node: node).pointee.lock() }
        apply(cache, from: h.pointee.appliedCount, to: count, freer: cache)
        h.pointee.appliedCount = 0
        h.pointee.logBytes = 0
        logCount(cache).pointee.store(0, ordering: .releasing)
        if node >= 0 { registry.logLock(node: node).pointee.unlock() }
    }

    /// Applies log entries `from ..< to` of `cache`. Each run of entries of one heap is applied
    /// inside that heap's guard (`HeapRegistry.enter`), holding one page lock at a time and
    /// switching only when the next page names another. A thread lock found contended
    /// un-biases the page to its directory's lock, so the owner's refills stop waiting behind
    /// these frees. `freer` is the calling thread's own cache (the owner's flush) or nil (the
    /// scavenger). Caller holds the cache's log lock (if it has a node) and no heap lock.
    static func apply(_ cache: UnsafeMutableRawPointer, from: Int, to: Int, freer: UnsafeMutableRawPointer?) {
        guard from < to, let registry = HeapRegistry.shared else { return }
        let entries = log(cache)
        var entered = -1
        var core: UnsafeMutablePointer<SegregatedHeapCore>? = nil
        var held: UnsafeMutablePointer<FutexLock>? = nil
        var now: UInt64? = nil
        var tally = SegregatedHeapCore.RemoteFreeTally()
        for i in from ..< to {
            let entry = entries[i]
            let heap = Int(entry >> 48)
            if heap != entered {
                if let c = core {
                    tally.publish(c)
                    PageLock.release(&held)
                    registry.exit(heap: entered)
                }
                core = registry.enter(heap: heap)
                entered = heap
                now = nil
            }
            guard let core else { continue }
            let address = entry & addressMask
            let layout = core.pointee.layout
            // Invariant: a logged address is an object of this live heap (the log's
            // precondition), so its page header and lock word are valid.
            let page = PageRef(layout.header(containing: address), layout)
            if PageLock.lock(page, holding: &held), let lock = held, registry.isThreadLock(lock),
                !page.isColdStart
            {
                // Contended thread lock: the page is owned and biased (only owned pages name a
                // thread lock); move it to its directory's lock (order: thread, then directory).
                let directory = SegregatedHeapCore.directoryLock(core, Int(page.fields.pointee.classIndex))
                directory.pointee.lock()
                PageLock.retarget(page, to: directory)
                lock.pointee.unlock()
                held = directory
            }
            SegregatedHeapCore.freeRemotely(core, address: address, freer: freer, now: &now, tally: &tally)
        }
        if let core {
            tally.publish(core)
            PageLock.release(&held)
            registry.exit(heap: entered)
        }
    }

    /// Thread exit: return the pages this thread holds in every live heap it touched, apply the
    /// log, give the thread lock back, unmap the cache. Runs on the exiting thread (the shim has
    /// already cleared the slot).
    static func destroy(_ cache: UnsafeMutableRawPointer) {
        guard let registry = HeapRegistry.shared else { return }
        releaseEveryPage(cache, registry: registry)
        flushLog(cache)
        // Every page this cache owned is given back and names another lock now; the log is
        // empty, and the node forgets the cache before it is unmapped.
        let node = header(cache).pointee.node
        if node >= 0 { registry.returnThreadNode(node) }
        let region = header(cache).pointee.region
        if ThreadLocalSlot.load() == cache { ThreadLocalSlot.store(nil) }
        try? VirtualMemory.release(region)
    }
}
