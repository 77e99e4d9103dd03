import PasSystem
import Synchronization

/// The page-sharing participant that applies stale deallocation logs: a thread that logs frees
/// into other threads' pages and then sleeps would otherwise pin what they free until it wakes
/// or exits. Once registered with the shared pool (by the first segregated heap in it), a
/// thread cache's first log entry after a flush tells it (`logStarted(at:)`), and the pool's
/// scavenger calls `decommitEmptyPages(emptySinceAtMost:)` for logs older than the pool's delay,
/// which applies them (`HeapRegistry.flushStaleLogs`). The frees it applies make pages empty,
/// which their heaps then report to the pool as usual; it decommits nothing itself.
///
/// Times are coarse monotonic nanoseconds (the shared pool's clock, read cheaply). Thread-safe.
final class StaleLogFlusher: PageSharingParticipant, @unchecked Sendable {
    /// The earliest first-entry time of the logs not applied yet (see `EmptyPageSignal`); it
    /// wakes no pool itself: `logStarted(at:)` wakes the shared pool.
    let signal = EmptyPageSignal(pool: nil)
    /// True once registered with the shared pool.
    let registered = Atomic<Bool>(false)
    /// Set once by `register()`.
    private var registration: PageSharingRegistration?

    /// Joins the shared pool (once). Called by a segregated heap that reports to it.
    func register() {
        guard registered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        registration = PageSharingPool.shared.register(self)
    }

    /// A thread cache logged its first entry since its last flush, at `now`. Cost: one relaxed
    /// load unless no log was pending, which also stores and wakes the pool.
    @inline(__always)
    func logStarted(at now: UInt64) {
        guard registered.load(ordering: .relaxed), signal.earliest.load(ordering: .relaxed) == .max else { return }
        signal.earliest.store(now, ordering: .sequentiallyConsistent)
        PageSharingPool.shared.participantHasEmptyPages()
    }

    var earliestEmptyTime: UInt64? { signal.earliestTime }

    /// Applies the logs whose first entry was logged at `limit` or earlier. Returns 0: it gives
    /// no memory back itself.
    func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        HeapRegistry.shared?.flushStaleLogs(startedBy: limit)
        return 0
    }

    var committedPageBytes: Int { 0 }
    var decommittedPageBytes: Int { 0 }
}
