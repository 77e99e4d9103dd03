/// A snapshot of a bitfit heap's memory use, taken under its directory lock.
public struct BitfitStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Bytes in live objects (sizes rounded up to granules).
    public var liveBytes: Int
    /// Live objects.
    public var objectCount: Int
    /// Payload bytes of committed pages not in live objects.
    public var freeBytes: Int
    /// Pages the heap has, committed or not.
    public var pageCount: Int
    /// Committed pages without live objects (candidates for decommit).
    public var emptyPageCount: Int
    /// Bytes of committed pages.
    public var committedBytes: Int
    /// Bytes of pages whose memory was returned by `decommitEmptyPages`.
    public var decommittedBytes: Int
    /// Chunks taken from the chunk source.
    public var chunkCount: Int
    /// Side memory mapped for per-chunk metadata (page entries, out-of-line headers) and
    /// page-map leaves; all of it is in use.
    public var metadataBytes: Int
    /// Address space of the fixed side tables (page-map top level, chunk table, fit index),
    /// sized for `Config.maxHeapBytes`; only the parts in use become resident.
    public var reservedTableBytes: Int
    /// Pages searched without finding room since the heap was created. Each such search
    /// lowers the page's largest-free hint, so the same request does not visit it again.
    public var failedPageSearches: Int

    /// A snapshot with every field given (the heap builds these; tests and tools may too).
    public init(
        liveBytes: Int, objectCount: Int, freeBytes: Int, pageCount: Int, emptyPageCount: Int,
        committedBytes: Int, decommittedBytes: Int, chunkCount: Int, metadataBytes: Int,
        reservedTableBytes: Int = 0, failedPageSearches: Int = 0
    ) {
        self.liveBytes = liveBytes
        self.objectCount = objectCount
        self.freeBytes = freeBytes
        self.pageCount = pageCount
        self.emptyPageCount = emptyPageCount
        self.committedBytes = committedBytes
        self.decommittedBytes = decommittedBytes
        self.chunkCount = chunkCount
        self.metadataBytes = metadataBytes
        self.reservedTableBytes = reservedTableBytes
        self.failedPageSearches = failedPageSearches
    }

    /// Share of committed memory not holding live objects: `1 - liveBytes / committedBytes`
    /// (0 when nothing is committed). Includes inline headers and free space in partly used pages.
    public var fragmentation: Double {
        committedBytes == 0 ? 0 : 1 - Double(liveBytes) / Double(committedBytes)
    }

    /// One line for logs: bytes, objects, pages, fragmentation.
    public var description: String {
        "live \(liveBytes) B in \(objectCount) objects, free \(freeBytes) B, \(pageCount) pages "
            + "(\(emptyPageCount) empty), committed \(committedBytes) B, decommitted \(decommittedBytes) B, "
            + "metadata \(metadataBytes) B, fragmentation \(Int(fragmentation * 100)) %"
    }
}

/// One inconsistency found by `BitfitHeap.verify()`.
public struct BitfitProblem: Sendable, Equatable, CustomStringConvertible {
    /// Start of the page concerned, or 0 for a heap-wide total.
    public var pageAddress: UInt
    /// What is inconsistent, in words.
    public var description: String

    /// A problem at `pageAddress` (0: heap-wide) described by `description`.
    public init(pageAddress: UInt, description: String) {
        self.pageAddress = pageAddress
        self.description = description
    }
}
