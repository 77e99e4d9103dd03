#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import PasTestSupport

@testable import Pas

/// A thread that frees other threads' objects and then sleeps does not keep them pinned in its
/// deallocation log: the scavenger applies logs older than the pool's delay.
@Suite(.serialized) struct StaleLogTests {
    /// Frees `objects` on a new thread, which then waits until `release` is set before it
    /// exits (its exit would flush its log). Returns the thread.
    private func freeOnSleepingThread(
        _ heap: SmallHeap, _ objects: [UnsafeMutableRawPointer], release: HandoffLock<Bool>, logged: HandoffLock<Bool>
    ) -> JoinableThread {
        let pointers = Unchecked(objects)
        return JoinableThread {
            for p in pointers.value { heap.deallocateUnchecked(p) }
            logged.withLock { $0 = true }
            while !release.withLock({ $0 }) { usleep(1000) }
        }
    }

    /// The scavenger's log pass, called directly: a log whose first entry is younger than the
    /// limit stays; one at least that old is applied, though its thread is asleep.
    @Test func theLogPassAppliesOnlyLogsOldEnough() throws {
        let heap = try SmallHeap(coldStart: false, pageSharing: nil)
        let objects = (0 ..< 100).compactMap { _ in heap.allocateUnchecked(size: 64) }
        #expect(heap.statistics.objectsInUse == 100)
        let release = HandoffLock(false)
        let logged = HandoffLock(false)
        let sleeper = freeOnSleepingThread(heap, objects, release: release, logged: logged)
        while !logged.withLock({ $0 }) { usleep(1000) }
        let registry = try #require(HeapRegistry.shared)
        // Older than any log: nothing applied.
        registry.flushStaleLogs(startedBy: 0)
        #expect(heap.statistics.objectsInUse == 100, "a log younger than the limit was applied")
        // Every log: the sleeper's frees are applied while it sleeps.
        registry.flushStaleLogs(startedBy: .max)
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
        // A second pass does not apply the same entries again.
        registry.flushStaleLogs(startedBy: .max)
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.lateDoubleFrees == 0)
        release.withLock { $0 = true }
        sleeper.join()
        let after = heap.statistics
        #expect(after.objectsInUse == 0 && after.lateDoubleFrees == 0, "the sleeper's exit applied its frees twice")
        try heap.verify()
    }

    /// The owner's own flush after the scavenger applied part of its log applies only the rest.
    @Test func anOwnersFlushAfterTheScavengerAppliesOnlyTheRest() throws {
        let heap = try SmallHeap(coldStart: false, pageSharing: nil)
        let objects = (0 ..< 60).compactMap { _ in heap.allocateUnchecked(size: 64) }
        let registry = try #require(HeapRegistry.shared)
        let pointers = Unchecked(objects)
        let done = HandoffLock(false)
        let freer = JoinableThread {
            for p in pointers.value[..<30] { heap.deallocateUnchecked(p) }
            registry.flushStaleLogs(startedBy: .max)
            for p in pointers.value[30...] { heap.deallocateUnchecked(p) }
            // Its own flush: entries 30 ..< 60 only.
            heap.flushThreadCache()
            done.withLock { $0 = true }
        }
        freer.join()
        #expect(done.withLock { $0 })
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.lateDoubleFrees == 0 && s.remoteFrees == 60)
        try heap.verify()
    }

    /// The registry node of thread cache `cache`, or nil if it has none.
    private func nodeOf(_ cache: UnsafeMutableRawPointer) -> Int? {
        let node = ThreadCache.header(cache).pointee.node
        return node >= 0 ? node : nil
    }

    /// A cache the scavenger found idle gives its pages back on its next allocation slow path:
    /// the pages of a class the thread stopped using come back, with their free slots.
    @Test func anIdleCacheGivesItsPagesBackOnItsNextSlowPath() throws {
        let heap = try SmallHeap(coldStart: false, pageSharing: nil)
        let registry = try #require(HeapRegistry.shared)
        let step = HandoffLock(0)
        let cacheOfThread = HandoffLock<UInt>(0)
        let thread = JoinableThread {
            // A burst of 256-byte objects over several pages, most of them freed again.
            var objects = (0 ..< 400).compactMap { _ in heap.allocateUnchecked(size: 256) }
            for p in objects[50...] { heap.deallocateUnchecked(p) }
            objects.removeSubrange(50...)
            cacheOfThread.withLock { $0 = UInt(bitPattern: ThreadCache.current) }
            step.withLock { $0 = 1 }
            while step.withLock({ $0 }) != 2 { usleep(1000) }
            // Back, with another class: this slow path honours the stop first.
            let other = heap.allocateUnchecked(size: 48)
            step.withLock { $0 = 3 }
            while step.withLock({ $0 }) != 4 { usleep(1000) }
            if let other { heap.deallocateUnchecked(other) }
            for p in objects { heap.deallocateUnchecked(p) }
        }
        while step.withLock({ $0 }) != 1 { usleep(1000) }
        let threadCache = try #require(UnsafeMutableRawPointer(bitPattern: cacheOfThread.withLock { $0 }))
        let before = heap.statistics.ownedPages
        #expect(before >= 7, "the burst's pages are owned (\(before))")
        // A pass for everything asks no cache to stop; a timed one, here due for every cache,
        // does, and takes no page from the sleeping thread meanwhile.
        let node = try #require(nodeOf(threadCache))
        registry.flushStaleLogs(startedBy: .max, only: node)
        #expect(registry.nodeStates[node].load(ordering: .relaxed) == HeapRegistry.nodeActive)
        // (Only this thread's node: other tests' threads are not asked to stop.)
        registry.flushStaleLogs(startedBy: .max - 1, only: node)
        #expect(registry.nodeStates[node].load(ordering: .relaxed) == HeapRegistry.nodeStopRequested)
        #expect(heap.statistics.ownedPages == before, "a stop request took pages from a thread")
        step.withLock { $0 = 2 }
        while step.withLock({ $0 }) != 3 { usleep(1000) }
        let s = heap.statistics
        #expect(s.ownedPages == 1, "the idle class's pages stayed owned (\(s.ownedPages) owned)")
        // The 50 live objects, and the new 48-byte page, whose pool counts as in use (it is
        // another thread's); the burst's other pages are empty or eligible again.
        #expect(s.objectsInUse == 50 + 16384 / 48)
        #expect(s.emptyPages + s.eligiblePages == 6)
        try heap.verify()
        step.withLock { $0 = 4 }
        thread.join()
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
    }

    /// With the shared pool's scavenger running: a sleeping thread's logged frees are applied
    /// within about the pool's delay plus a pass, without any call.
    @Test func aSleepingThreadsLogIsAppliedByTheScavenger() async throws {
        let heap = try SmallHeap(coldStart: false)
        let objects = (0 ..< 100).compactMap { _ in heap.allocateUnchecked(size: 64) }
        let release = HandoffLock(false)
        let logged = HandoffLock(false)
        let sleeper = freeOnSleepingThread(heap, objects, release: release, logged: logged)
        while !logged.withLock({ $0 }) { usleep(1000) }
        // The delay is 300 ms unless PAS_SCAVENGE_DELAY_MS says otherwise; allow for a loaded
        // machine.
        let applied = await poll(upTo: 10_000) { heap.statistics.objectsInUse == 0 }
        release.withLock { $0 = true }
        sleeper.join()
        #expect(applied, "the sleeping thread's frees were not applied")
        try heap.verify()
    }
}
