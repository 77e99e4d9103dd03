import PasSystem
import Synchronization

/// A segregated heap takes part in page sharing with its empty pages: they carry the time they
/// became empty, and `decommitEmptyPages(emptySinceAtMost:)` gives back those idle long enough in runs of
/// adjacent pages, through the one pass all heaps share (`DecommitPass`; see
/// `decommitEmptyPages(emptiedBy:)`), whose system calls run without any lock.
extension SegregatedHeap: PageSharingParticipant {
    /// Lower bound of the empty times of the committed empty pages, or nil. One atomic load.
    public var earliestEmptyTime: UInt64? { emptySignal.earliestTime }

    /// Decommits the pages that became empty at `limit` (nanoseconds of the heap's time source)
    /// or earlier: the pool's pass. Returns the bytes decommitted. Cost and thread-safety as
    /// for `decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        try decommitEmptyPages(emptiedBy: limit)
    }

    /// Bytes of committed pages. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedPageBytes }

    /// Bytes of decommitted pages. Takes the heap's lock.
    public var decommittedPageBytes: Int {
        let s = statistics
        return s.decommittedPages * s.pageSize
    }
}
