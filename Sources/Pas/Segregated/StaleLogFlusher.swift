import PasSystem
import Synchronization

/// The page-sharing participant for idle thread caches. A thread that logs frees into other
/// threads' pages and then sleeps would pin what they free until it wakes or exits; a thread
/// that stops using a size class keeps that class's pages. Once registered with the shared
/// pool (by the first segregated heap in it), a thread cache's first log entry after a flush,
/// and its first page taken since it last stopped, tell it (`noteActivity(at:)`); the pool's
/// scavenger then calls `decommitEmptyPages(emptySinceAtMost:)` once the pool's delay has
/// passed, which applies logs older than that and asks caches idle that long to give their
/// pages back on their next slow path (`HeapRegistry.flushStaleLogs`). What comes back makes
/// pages empty, which their heaps report to the pool as usual; it decommits nothing itself.
/// A thread that never runs again keeps its pages until it exits: the fast paths take no lock,
/// so no other thread may take them from it.
///
/// Times are coarse monotonic nanoseconds (the shared pool's clock, read cheaply). Thread-safe.
final class StaleLogFlusher: PageSharingParticipant, @unchecked Sendable {
    /// The earliest first-entry time of the logs not applied yet and last slow-path time of the
    /// active caches (see `EmptyPageSignal`); it wakes no pool itself: `noteActivity(at:)`
    /// wakes the shared pool.
    let signal = EmptyPageSignal(pool: nil)
    /// How much longer than the pool's delay a cache must go without an allocation slow path
    /// before it is asked to stop: 700 ms, so about a second in all with the default delay.
    /// Giving pages back costs the thread refills when it comes back, so idle means idle a
    /// while.
    static let stopGrace: UInt64 = 700_000_000
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

    /// A thread cache logged its first entry since its last flush, or took its first page since
    /// it last stopped, at `now`. Lowers the signal to `now` if it is later (a pass may have
    /// left it at a cache's due time, after `now`), and wakes the pool. Cost: two relaxed loads
    /// unless the signal is later, which also stores and wakes the pool (one atomic load when
    /// its thread runs).
    @inline(__always)
    func noteActivity(at now: UInt64) {
        guard registered.load(ordering: .relaxed), now < signal.earliest.load(ordering: .relaxed) else { return }
        signal.earliest.store(now, ordering: .sequentiallyConsistent)
        PageSharingPool.shared.participantHasEmptyPages()
    }

    var earliestEmptyTime: UInt64? { signal.earliestTime }

    /// Applies the logs whose first entry was logged at `limit` or earlier and asks the caches
    /// idle since then to stop. Returns 0: it gives no memory back itself.
    func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        HeapRegistry.shared?.flushStaleLogs(startedBy: limit)
        return 0
    }

    var committedPageBytes: Int { 0 }
    var decommittedPageBytes: Int { 0 }
}
