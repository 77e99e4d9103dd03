/// A snapshot of a `LargeHeap`'s accounting. A plain value.
public struct LargeHeapStatistics: Hashable, Sendable {
    /// Bytes in live objects (after rounding to the granule).
    public var liveBytes: Int
    /// Bytes in free ranges, committed or not.
    public var freeBytes: Int
    /// Live objects.
    public var objectCount: Int
    /// Free ranges (after coalescing).
    public var freeRangeCount: Int
    /// Bytes drawn from the chunk source and not decommitted.
    public var committedBytes: Int
    /// Bytes of free pages handed back with `chunks.decommit` and not yet re-committed.
    public var decommittedBytes: Int
    /// Bytes drawn from the chunk source (`liveBytes + freeBytes`).
    public var chunkBytes: Int
    /// Bytes of ordinary pages holding the heap's metadata (tree nodes, large map).
    public var metadataBytes: Int

    /// A snapshot with every field given (the heap builds these; tests and tools may too).
    public init(
        liveBytes: Int, freeBytes: Int, objectCount: Int, freeRangeCount: Int, committedBytes: Int,
        decommittedBytes: Int, chunkBytes: Int, metadataBytes: Int
    ) {
        self.liveBytes = liveBytes
        self.freeBytes = freeBytes
        self.objectCount = objectCount
        self.freeRangeCount = freeRangeCount
        self.committedBytes = committedBytes
        self.decommittedBytes = decommittedBytes
        self.chunkBytes = chunkBytes
        self.metadataBytes = metadataBytes
    }
}
