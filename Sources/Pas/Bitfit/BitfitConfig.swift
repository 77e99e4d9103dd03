import PasSystem

/// Where a bitfit page keeps its header (the free bits and end-of-object bits).
public enum BitfitHeaderPlacement: Sendable, Equatable {
    /// At the start of the page itself; the payload starts after it, rounded up to a granule.
    /// Needs a chunk source with `allowsMetadataInChunks`.
    case inline
    /// In a side table outside the chunk memory. The allocator never reads or writes the
    /// page's own bytes. Required for code memory.
    case outOfLine
}

/// The compile-time shape of a bitfit page: page size, granule (minimum alignment and unit
/// of allocation), largest object, and where the header lives.
///
/// Conformers are caseless enums with constant static properties; `BitfitHeap` is generic
/// over its config, so every derived quantity below folds to a constant once specialised.
///
/// Requirements (checked by `BitfitConfigLayout.validate` when a heap is created):
/// - `pageSize` and `granule` are powers of two, `granule >= 8`, `pageSize` a multiple of
///   the system page size;
/// - a page holds at most `maxGranulesPerPage` granules (so a header is at most 512 bytes);
/// - `maxObjectSize` is positive and fits into the payload of one page.
public protocol BitfitConfig {
    /// Bytes per page; pages are aligned to their size.
    static var pageSize: Int { get }
    /// Allocation unit and minimum alignment in bytes (a power of two).
    static var granule: Int { get }
    /// Largest request this config serves; larger requests throw `.invalidSize(.allocate, size)`.
    static var maxObjectSize: Int { get }
    /// Where page headers live.
    static var headerPlacement: BitfitHeaderPlacement { get }
    /// Pages requested from the chunk source at a time (a power of two). The chunk is
    /// `pagesPerChunk * pageSize` bytes, aligned to its size.
    static var pagesPerChunk: Int { get }
    /// Upper bound on the address space one heap of this config may take; sizes its side tables
    /// (reserved, only touched parts become resident).
    static var maxHeapBytes: Int { get }
}

extension BitfitConfig {
    /// Default: 64 GiB of pages per heap.
    @inlinable public static var maxHeapBytes: Int { 64 << 30 }
}

/// The most granules one bitfit page may have: 4096, i.e. 64 words per bitmap.
public let bitfitMaxGranulesPerPage = 4096

/// Quantities derived from a config. All `@inline(__always)` so they fold to constants.
extension BitfitConfig {
    @inlinable @inline(__always)
    static var granuleShift: Int { granule.trailingZeroBitCount }
    @inlinable @inline(__always)
    static var pageShift: Int { pageSize.trailingZeroBitCount }
    /// Bytes requested from the chunk source at a time (and their alignment).
    @inlinable @inline(__always)
    public static var chunkSize: Int { pageSize &* pagesPerChunk }
    @inlinable @inline(__always)
    static var chunkShift: Int { chunkSize.trailingZeroBitCount }
    /// Granules in a whole page (payload plus any inline header).
    @inlinable @inline(__always)
    static var granulesPerPage: Int { pageSize >> granuleShift }
    /// 64-bit words per bitmap; the header is two bitmaps (free bits, then end bits).
    @inlinable @inline(__always)
    static var bitmapWords: Int { (granulesPerPage &+ 63) >> 6 }
    /// Bytes of one page header (both bitmaps).
    @inlinable @inline(__always)
    public static var headerBytes: Int { bitmapWords &* 16 }
    /// Offset of the first payload byte from the page start (the inline header, rounded up
    /// to a granule; 0 for out-of-line headers).
    @inlinable @inline(__always)
    public static var payloadOffset: Int {
        headerPlacement == .inline ? (headerBytes &+ granule &- 1) & ~(granule &- 1) : 0
    }
    /// Granules available for objects in one page; bit `i` of a bitmap describes payload granule `i`.
    @inlinable @inline(__always)
    public static var payloadGranules: Int { (pageSize &- payloadOffset) >> granuleShift }
    /// Payload granule index of the payload start, for alignment arithmetic.
    @inlinable @inline(__always)
    static var payloadOffsetGranules: Int { payloadOffset >> granuleShift }
    @inlinable @inline(__always)
    static var maxObjectGranules: Int { maxObjectSize >> granuleShift }
    /// Size-bucket count for the directory's fit index: bucket `b` holds pages whose hint is
    /// at least `1 << b` granules.
    @inlinable @inline(__always)
    static var bucketCount: Int { Int.bitWidth &- payloadGranules.leadingZeroBitCount }
    @inlinable @inline(__always)
    static var maxPages: Int { maxHeapBytes >> pageShift }
    @inlinable @inline(__always)
    static var maxChunks: Int { max(1, maxPages / pagesPerChunk) }
}

/// Checks of a config's constants, run once when a heap is created.
enum BitfitConfigLayout {
    static func validate<C: BitfitConfig>(_: C.Type, systemPageSize: Int) {
        precondition(
            Alignment.isPowerOfTwo(C.granule) && C.granule >= 8,
            "bitfit config \(C.self): granule \(C.granule) must be a power of two >= 8")
        precondition(
            Alignment.isPowerOfTwo(C.pageSize) && C.pageSize % systemPageSize == 0,
            "bitfit config \(C.self): page size \(C.pageSize) must be a power-of-two multiple of \(systemPageSize)")
        precondition(
            C.granulesPerPage <= bitfitMaxGranulesPerPage && C.granulesPerPage >= 64,
            "bitfit config \(C.self): \(C.granulesPerPage) granules per page (must be 64...\(bitfitMaxGranulesPerPage))")
        precondition(
            Alignment.isPowerOfTwo(C.pagesPerChunk),
            "bitfit config \(C.self): pagesPerChunk must be a power of two")
        precondition(
            C.maxObjectSize > 0 && C.maxObjectSize % C.granule == 0
                && C.maxObjectGranules <= C.payloadGranules,
            "bitfit config \(C.self): maxObjectSize \(C.maxObjectSize) must be a granule multiple within one page's payload")
        precondition(C.maxHeapBytes >= C.chunkSize, "bitfit config \(C.self): maxHeapBytes below one chunk")
    }
}
