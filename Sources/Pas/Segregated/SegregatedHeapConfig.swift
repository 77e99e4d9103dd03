/// Compile-time description of a segregated heap's pages.
///
/// A heap is generic over its config, so the page size, chunk size and header layout are
/// constants in the specialised fast paths (libpas does the same with C macros).
/// Conformers are caseless enums; only the three static requirements are chosen, the rest of
/// the layout follows (`PageLayout`).
public protocol SegregatedHeapConfig {
    /// log2 of the page size: every page holds objects of one size class.
    static var pageShift: Int { get }
    /// log2 of the chunk size: chunks are aligned to their size, hold the headers of their
    /// pages at their start, then the pages.
    static var chunkShift: Int { get }
    /// Largest object the config serves (at most 1/8 of a page, a class size).
    static var maxObjectSize: Int { get }
}

extension SegregatedHeapConfig {
    /// The derived layout. Cost: folds to constants after specialisation.
    @inlinable @inline(__always)
    public static var layout: PageLayout { PageLayout(pageShift: pageShift, chunkShift: chunkShift) }
}

/// 16 KiB pages in 1 MiB chunks, objects of 16 B ... 2 KiB (24 classes).
public enum SmallPagesConfig: SegregatedHeapConfig {
    /// log2 of the page size: `14`. A compile-time constant.
    @inlinable public static var pageShift: Int { 14 }
    /// log2 of the chunk size: `20`. A compile-time constant.
    @inlinable public static var chunkShift: Int { 20 }
    /// Largest object served, in bytes: `2048`. A compile-time constant.
    @inlinable public static var maxObjectSize: Int { 2048 }
}

/// 128 KiB pages in 4 MiB chunks, objects of 16 B ... 16 KiB (36 classes).
public enum MediumPagesConfig: SegregatedHeapConfig {
    /// log2 of the page size: `17`. A compile-time constant.
    @inlinable public static var pageShift: Int { 17 }
    /// log2 of the chunk size: `22`. A compile-time constant.
    @inlinable public static var chunkShift: Int { 22 }
    /// Largest object served, in bytes: `16384`. A compile-time constant.
    @inlinable public static var maxObjectSize: Int { 16384 }
}

/// Where page headers and bitmaps sit inside a chunk.
///
/// A chunk (aligned to its size) starts with a 64-byte chunk header, followed by one page
/// header per payload page (`headerStride` bytes apart); the first `metaPages` pages of the
/// chunk hold these headers, the rest are payload pages. A page header is found from any
/// address in its page with a mask, a shift and an add: headers live out of the page, so a
/// decommitted page keeps its metadata and objects start at offset 0 of their page.
///
/// Page header: 64 bytes of fields, then three bitmaps of `bitmapWords` words each (one bit
/// per possible object, i.e. per 16 bytes): allocated, owner-free, remote-free.
@frozen
public struct PageLayout: Sendable, Equatable {
    /// log2 of the page size.
    public let pageShift: Int
    /// log2 of the chunk size (chunks are aligned to it).
    public let chunkShift: Int
    /// Words per bitmap: enough bits for `pageSize / 16` objects.
    public let bitmapWords: Int
    /// log2 of the distance between page headers.
    public let strideShift: Int
    /// Pages per chunk, including the metadata pages.
    public let pagesPerChunk: Int
    /// Leading pages of each chunk that hold headers instead of objects.
    public let metaPages: Int
    /// Header of page `i` = chunk + (i << strideShift) + headerBias (wrapping arithmetic).
    public let headerBias: UInt

    /// Size of the chunk header that precedes the page headers.
    public static let chunkHeaderBytes = 64
    /// Size of the fixed fields of a page header: `PageHeader` (64 bytes), the lock word
    /// (`PageRef.lockWord`) and padding to a cache line.
    public static let pageHeaderFieldBytes = 128

    /// The layout of pages of `1 << pageShift` bytes in chunks of `1 << chunkShift` bytes.
    /// Cost: constant-folded when the arguments are constants.
    @inlinable @inline(__always)
    public init(pageShift: Int, chunkShift: Int) {
        self.pageShift = pageShift
        self.chunkShift = chunkShift
        let words = (1 &<< pageShift) &>> (SizeClasses.minAlignShift &+ 6)
        bitmapWords = words
        let headerBytes = PageLayout.pageHeaderFieldBytes &+ 3 &* 8 &* words
        strideShift = Int.bitWidth &- (headerBytes &- 1).leadingZeroBitCount
        pagesPerChunk = 1 &<< (chunkShift &- pageShift)
        // Smallest m with 64 + (pagesPerChunk - m) * stride <= m * pageSize.
        let stride = 1 &<< strideShift
        let need = PageLayout.chunkHeaderBytes &+ pagesPerChunk &* stride
        metaPages = (need &+ (1 &<< pageShift) &+ stride &- 1) / ((1 &<< pageShift) &+ stride)
        headerBias = UInt(bitPattern: PageLayout.chunkHeaderBytes &- (metaPages &<< strideShift))
    }

    /// Bytes of a page.
    @inlinable @inline(__always) public var pageSize: Int { 1 &<< pageShift }
    /// Bytes of a chunk.
    @inlinable @inline(__always) public var chunkSize: Int { 1 &<< chunkShift }
    /// `pageSize - 1`.
    @inlinable @inline(__always) public var pageMask: UInt { UInt(bitPattern: pageSize &- 1) }
    /// `chunkSize - 1`.
    @inlinable @inline(__always) public var chunkMask: UInt { UInt(bitPattern: chunkSize &- 1) }
    /// Byte offset of the allocated bitmap in a page header.
    @inlinable @inline(__always) public var allocBitsOffset: Int { PageLayout.pageHeaderFieldBytes }
    /// Byte offset of the owner-free bitmap in a page header.
    @inlinable @inline(__always) public var ownerFreeOffset: Int { PageLayout.pageHeaderFieldBytes &+ 8 &* bitmapWords }
    /// Byte offset of the remote-free bitmap in a page header.
    @inlinable @inline(__always) public var remoteFreeOffset: Int { PageLayout.pageHeaderFieldBytes &+ 16 &* bitmapWords }

    /// The header address of the page containing `address` (no checks).
    @inlinable @inline(__always)
    public func header(containing address: UInt) -> UInt {
        let chunk = address & ~chunkMask
        let index = (address & chunkMask) &>> UInt(pageShift)
        return chunk &+ (index &<< UInt(strideShift)) &+ headerBias
    }

    /// The first byte of the page whose header is at `header`.
    @inlinable @inline(__always)
    public func pageStart(ofHeader header: UInt) -> UInt {
        let chunk = header & ~chunkMask
        let index = (header &- chunk &- headerBias) &>> UInt(strideShift)
        return chunk &+ (index &<< UInt(pageShift))
    }

    /// Header of page `index` of `chunk`.
    @inlinable @inline(__always)
    public func header(chunk: UInt, page index: Int) -> UInt {
        chunk &+ (UInt(index) &<< UInt(strideShift)) &+ headerBias
    }
}
