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
