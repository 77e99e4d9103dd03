/// A snapshot of a segregated heap's pages and counters (`SegregatedHeap.statistics`).
public struct SegregatedHeapStatistics: Sendable, Equatable {
    /// Chunks drawn from the chunk source.
    public var chunkCount = 0
    /// Bytes of one page.
    public var pageSize = 0
    /// Pages a thread cache allocates from.
    public var ownedPages = 0
    /// Unowned pages with no free slot.
    public var fullPages = 0
    /// Unowned pages with free slots and live objects.
    public var eligiblePages = 0
    /// Unowned pages with no live object (committed or not).
    public var emptyPages = 0
    /// Unowned cold-start pages that hold objects of several classes.
    public var coldStartPages = 0
    /// Empty pages whose memory was given back (`decommitEmptyPages`).
    public var decommittedPages = 0
    /// Never used pages left in the newest chunk.
    public var freshPages = 0
    /// Objects not known to be free: live objects plus free slots that other threads' caches
    /// hold (the calling thread's cached slots are subtracted).
    public var objectsInUse = 0
    /// Bytes of those objects (class sizes).
    public var bytesInUse = 0
    /// Frees applied from deallocation logs (or by `deallocate` on unowned pages).
    public var remoteFrees = 0
    /// Double frees detected only when a log was applied or a thread refilled; they were ignored.
    public var lateDoubleFrees = 0

    /// All counts zero (the heap fills them in).
    public init() {}

    /// Bytes of pages that hold or may hold objects and are committed.
    public var committedPageBytes: Int {
        (ownedPages + fullPages + eligiblePages + coldStartPages + emptyPages - decommittedPages) * pageSize
    }
}

/// What a heap's empty pages look like to a scavenger (`SegregatedHeap.emptyPageReport(olderThan:)`).
public struct EmptyPageReport: Sendable, Equatable {
    /// Empty pages whose memory is still committed.
    public var committedEmptyPages = 0
    /// Of those, the pages that have been empty for at least the asked duration.
    public var idleEmptyPages = 0
    /// When the longest-empty committed page became empty (time source nanoseconds), or nil.
    public var oldestEmptySince: UInt64? = nil

    /// No pages (the heap fills the report in).
    public init() {}
}
