import PasSystem

/// A bitfit heap takes part in page sharing as one participant: its directory's committed
/// empty pages are the candidates, stamped when their last object was freed.
extension BitfitHeap: PageSharingParticipant {
    /// Lower bound of the empty times of the committed empty pages, or nil. One atomic load.
    public var earliestEmptyTime: UInt64? { directory.emptySignal.earliestTime }

    /// Decommits the pages that became empty at `limit` (nanoseconds of the heap's time
    /// source) or earlier: the pool's pass, and `decommitEmptyPages(olderThan:)`'s. Returns the
    /// bytes decommitted. Cost and thread-safety as for `decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        try directory.decommitEmptyPages(emptySinceAtMost: limit)
    }

    /// Bytes of committed pages. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedBytes }

    /// Bytes of decommitted pages. Takes the heap's lock.
    public var decommittedPageBytes: Int { statistics.decommittedBytes }
}
