import PasSystem
import Synchronization

/// The lock-free half of a segregated heap's page-sharing state: the earliest time a committed
/// page became empty, and the pool to wake. Owned by the heap; the heap core reaches it through
/// its `emptyNotify` hook (under the heap lock).
final class SegregatedEmptySignal: @unchecked Sendable {
    /// `UInt64.max` when no committed page is empty; otherwise at most the empty time of each.
    let earliest = Atomic<UInt64>(.max)
    /// Kept by the heap for its life.
    let pool: PageSharingPool?

    init(pool: PageSharingPool?) { self.pool = pool }

    /// A page became empty at `now`. Cost: one relaxed load unless this is the first empty page
    /// since the last pass, which also stores and wakes the pool (see `PageSharingParticipant`).
    @inline(__always)
    func pageBecameEmpty(at now: UInt64) {
        if earliest.load(ordering: .relaxed) == .max {
            earliest.store(now, ordering: .sequentiallyConsistent)
            pool?.participantHasEmptyPages()
        }
    }
}

/// A segregated heap takes part in page sharing with its empty pages: they carry the time they
/// became empty, and `decommitEmptyPages(emptySinceAtMost:)` gives back those idle long enough in runs of
/// adjacent pages. The pass holds the heap lock across its decommit calls: the lock empty pages
/// name, which allocation takes only for blank pages and cold start, and frees only to empty a
/// page (fast paths never).
extension SegregatedHeap: PageSharingParticipant {
    /// Lower bound of the empty times of the committed empty pages, or nil. One atomic load.
    public var earliestEmptyTime: UInt64? {
        let t = emptySignal.earliest.load(ordering: .acquiring)
        return t == .max ? nil : t
    }

    /// Decommits the pages that became empty at `limit` (nanoseconds of the heap's time source)
    /// or earlier: the pool's pass. Returns the bytes decommitted. Cost and thread-safety as
    /// for `decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        let now = clock.source.nowNanoseconds()
        // Clear first: a page emptied during the pass stores a new time and wakes the pool.
        emptySignal.earliest.store(.max, ordering: .sequentiallyConsistent)
        var bytes = 0
        var failure: PasError? = nil
        do {
            bytes = try decommitEmptyPages(idleNanoseconds: now >= limit ? now - limit : 0)
        } catch {
            failure = error
        }
        // What is left empty and committed keeps the pool asking.
        if let oldest = emptyPageReport().oldestEmptySince {
            let current = emptySignal.earliest.load(ordering: .relaxed)
            if oldest < current { emptySignal.earliest.store(oldest, ordering: .sequentiallyConsistent) }
            pageSharing?.participantHasEmptyPages()
        }
        if let failure { throw failure }
        return bytes
    }

    /// Bytes of committed pages. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedPageBytes }

    /// Bytes of decommitted pages. Takes the heap's lock.
    public var decommittedPageBytes: Int {
        let s = statistics
        return s.decommittedPages * s.pageSize
    }
}
