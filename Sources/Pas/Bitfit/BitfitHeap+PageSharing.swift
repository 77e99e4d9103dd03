import PasSystem

/// A bitfit heap takes part in page sharing as one participant: its directory's committed
/// empty pages are the candidates, stamped when their last object was freed.
extension BitfitHeap: PageSharingParticipant {
    /// Lower bound of the empty times of the committed empty pages, or nil. One atomic load.
    public var earliestEmptyTime: UInt64? {
        let t = directory.earliestEmpty.load(ordering: .acquiring)
        return t == .max ? nil : t
    }

    /// `decommitEmptyPages(emptySinceAtMost:)`, for the pool.
    public func decommitPages(emptySince deadline: UInt64) throws(PasError) -> Int {
        try directory.decommitEmptyPages(emptySinceAtMost: deadline)
    }

    /// Bytes of committed pages. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedBytes }

    /// Bytes of decommitted pages. Takes the heap's lock.
    public var decommittedPageBytes: Int { statistics.decommittedBytes }
}
