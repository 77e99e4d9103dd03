import Pas

// The structs of pas_heap.h and pas_typed_heap.h, field for field. Every field is a UInt64
// (or a struct of them), so the Swift layout is the C one; the headers assert the same
// offsets and sizes, and the tests check the Swift side. Each field is the Swift statistics
// field of the same name (the headers say what each one counts). Plain values: building one
// costs a few stores; any thread.

/// `pas_segregated_heap_statistics` (pas_heap.h): `SegregatedHeapStatistics` in C.
@frozen
public struct CSegregatedHeapStatistics: Sendable, Equatable {
    /// `page_size`: bytes of one page (`SegregatedHeapStatistics.pageSize`).
    public var pageSize: UInt64
    /// `chunk_count`: chunks drawn from the system (`SegregatedHeapStatistics.chunkCount`).
    public var chunkCount: UInt64
    /// `owned_pages`: pages some thread allocates from (`SegregatedHeapStatistics.ownedPages`).
    public var ownedPages: UInt64
    /// `full_pages`: pages no thread owns, with no free slot
    /// (`SegregatedHeapStatistics.fullPages`).
    public var fullPages: UInt64
    /// `eligible_pages`: pages no thread owns, with free slots and live objects
    /// (`SegregatedHeapStatistics.eligiblePages`).
    public var eligiblePages: UInt64
    /// `empty_pages`: pages no thread owns, with no live object, committed or not
    /// (`SegregatedHeapStatistics.emptyPages`).
    public var emptyPages: UInt64
    /// `shared_pages`: cold-start pages holding objects of several classes
    /// (`SegregatedHeapStatistics.coldStartPages`).
    public var sharedPages: UInt64
    /// `decommitted_pages`: empty pages whose memory was given back to the system
    /// (`SegregatedHeapStatistics.decommittedPages`).
    public var decommittedPages: UInt64
    /// `fresh_pages`: never used pages left in the newest chunk
    /// (`SegregatedHeapStatistics.freshPages`).
    public var freshPages: UInt64
    /// `objects_in_use`: objects not known to be free, live objects plus free slots other
    /// threads cache (`SegregatedHeapStatistics.objectsInUse`, clamped at 0).
    public var objectsInUse: UInt64
    /// `bytes_in_use`: bytes of those objects, by class size
    /// (`SegregatedHeapStatistics.bytesInUse`, clamped at 0).
    public var bytesInUse: UInt64
    /// `remote_frees`: frees made by threads that did not own the object's page
    /// (`SegregatedHeapStatistics.remoteFrees`).
    public var remoteFrees: UInt64
    /// `late_double_frees`: double frees found when a thread's log of frees was applied,
    /// and ignored (`SegregatedHeapStatistics.lateDoubleFrees`).
    public var lateDoubleFrees: UInt64
    /// `SegregatedHeapStatistics.committedPageBytes`.
    public var committedPageBytes: UInt64

    /// All zero.
    public init() {
        pageSize = 0; chunkCount = 0; ownedPages = 0; fullPages = 0; eligiblePages = 0; emptyPages = 0
        sharedPages = 0; decommittedPages = 0; freshPages = 0; objectsInUse = 0; bytesInUse = 0
        remoteFrees = 0; lateDoubleFrees = 0; committedPageBytes = 0
    }

    init(_ s: SegregatedHeapStatistics) {
        pageSize = UInt64(s.pageSize)
        chunkCount = UInt64(s.chunkCount)
        ownedPages = UInt64(s.ownedPages)
        fullPages = UInt64(s.fullPages)
        eligiblePages = UInt64(s.eligiblePages)
        emptyPages = UInt64(s.emptyPages)
        sharedPages = UInt64(s.coldStartPages)
        decommittedPages = UInt64(s.decommittedPages)
        freshPages = UInt64(s.freshPages)
        // Other threads' cached slots are counted and the calling thread's subtracted, so
        // the counts are never negative; clamp anyway rather than trap on a C caller.
        objectsInUse = UInt64(max(s.objectsInUse, 0))
        bytesInUse = UInt64(max(s.bytesInUse, 0))
        remoteFrees = UInt64(s.remoteFrees)
        lateDoubleFrees = UInt64(s.lateDoubleFrees)
        committedPageBytes = UInt64(max(s.committedPageBytes, 0))
    }
}

/// `pas_bitfit_heap_statistics` (pas_heap.h): `BitfitStatistics` in C.
@frozen
public struct CBitfitHeapStatistics: Sendable, Equatable {
    /// `live_bytes`: bytes in live objects, sizes rounded up to granules
    /// (`BitfitStatistics.liveBytes`).
    public var liveBytes: UInt64
    /// `object_count`: live objects (`BitfitStatistics.objectCount`).
    public var objectCount: UInt64
    /// `free_bytes`: bytes of committed pages not in live objects (`BitfitStatistics.freeBytes`).
    public var freeBytes: UInt64
    /// `page_count`: pages, committed or not (`BitfitStatistics.pageCount`).
    public var pageCount: UInt64
    /// `empty_page_count`: committed pages without live objects
    /// (`BitfitStatistics.emptyPageCount`).
    public var emptyPageCount: UInt64
    /// `committed_bytes`: bytes of committed pages (`BitfitStatistics.committedBytes`).
    public var committedBytes: UInt64
    /// `decommitted_bytes`: bytes of pages whose memory was given back to the system
    /// (`BitfitStatistics.decommittedBytes`).
    public var decommittedBytes: UInt64
    /// `chunk_count`: chunks taken from the chunk source (`BitfitStatistics.chunkCount`).
    public var chunkCount: UInt64
    /// `metadata_bytes`: side memory holding per-chunk metadata, all in use
    /// (`BitfitStatistics.metadataBytes`).
    public var metadataBytes: UInt64
    /// `reserved_table_bytes`: address space of fixed side tables, resident only where used
    /// (`BitfitStatistics.reservedTableBytes`).
    public var reservedTableBytes: UInt64
    /// `failed_page_searches`: pages searched without finding room since the heap was
    /// created (`BitfitStatistics.failedPageSearches`).
    public var failedPageSearches: UInt64

    /// All zero.
    public init() {
        liveBytes = 0; objectCount = 0; freeBytes = 0; pageCount = 0; emptyPageCount = 0; committedBytes = 0
        decommittedBytes = 0; chunkCount = 0; metadataBytes = 0; reservedTableBytes = 0; failedPageSearches = 0
    }

    init(_ s: BitfitStatistics) {
        liveBytes = UInt64(s.liveBytes)
        objectCount = UInt64(s.objectCount)
        freeBytes = UInt64(s.freeBytes)
        pageCount = UInt64(s.pageCount)
        emptyPageCount = UInt64(s.emptyPageCount)
        committedBytes = UInt64(s.committedBytes)
        decommittedBytes = UInt64(s.decommittedBytes)
        chunkCount = UInt64(s.chunkCount)
        metadataBytes = UInt64(s.metadataBytes)
        reservedTableBytes = UInt64(s.reservedTableBytes)
        failedPageSearches = UInt64(s.failedPageSearches)
    }
}

/// `pas_large_heap_statistics` (pas_heap.h): `LargeHeapStatistics` in C.
@frozen
public struct CLargeHeapStatistics: Sendable, Equatable {
    /// `live_bytes`: bytes in live objects, rounded up to 4 KiB (`LargeHeapStatistics.liveBytes`).
    public var liveBytes: UInt64
    /// `free_bytes`: bytes in free ranges, committed or not (`LargeHeapStatistics.freeBytes`).
    public var freeBytes: UInt64
    /// `object_count`: live objects (`LargeHeapStatistics.objectCount`).
    public var objectCount: UInt64
    /// `free_range_count`: free ranges after coalescing (`LargeHeapStatistics.freeRangeCount`).
    public var freeRangeCount: UInt64
    /// `committed_bytes`: bytes drawn from the cage and not decommitted
    /// (`LargeHeapStatistics.committedBytes`).
    public var committedBytes: UInt64
    /// `decommitted_bytes`: bytes of free pages given back to the system and not reused since
    /// (`LargeHeapStatistics.decommittedBytes`).
    public var decommittedBytes: UInt64
    /// `chunk_bytes`: bytes drawn from the cage, `liveBytes + freeBytes`
    /// (`LargeHeapStatistics.chunkBytes`).
    public var chunkBytes: UInt64
    /// `metadata_bytes`: bytes of pages holding the heap's own metadata
    /// (`LargeHeapStatistics.metadataBytes`).
    public var metadataBytes: UInt64

    /// All zero.
    public init() {
        liveBytes = 0; freeBytes = 0; objectCount = 0; freeRangeCount = 0
        committedBytes = 0; decommittedBytes = 0; chunkBytes = 0; metadataBytes = 0
    }

    init(_ s: LargeHeapStatistics) {
        liveBytes = UInt64(s.liveBytes)
        freeBytes = UInt64(s.freeBytes)
        objectCount = UInt64(s.objectCount)
        freeRangeCount = UInt64(s.freeRangeCount)
        committedBytes = UInt64(s.committedBytes)
        decommittedBytes = UInt64(s.decommittedBytes)
        chunkBytes = UInt64(s.chunkBytes)
        metadataBytes = UInt64(s.metadataBytes)
    }
}

/// `pas_heap_statistics` (pas_heap.h): `PasHeap.Statistics` plus the cage size.
@frozen
public struct CHeapStatistics: Sendable, Equatable {
    /// `cage_bytes`: bytes of address space the heap's cage reserves.
    public var cageBytes: UInt64
    /// `PasHeap.Statistics.liveBytes`.
    public var liveBytes: UInt64
    /// `small`: the small segregated heap, blocks of 1 to 2048 bytes (`PasHeap.Statistics.small`).
    public var small: CSegregatedHeapStatistics
    /// `medium`: the medium segregated heap, blocks of 2049 to 16384 bytes
    /// (`PasHeap.Statistics.medium`).
    public var medium: CSegregatedHeapStatistics
    /// `marge`: the bitfit heap, blocks of 16385 to 655360 bytes and aligned blocks that fit it
    /// (`PasHeap.Statistics.marge`).
    public var marge: CBitfitHeapStatistics
    /// `large`: the large heap, every larger block (`PasHeap.Statistics.large`).
    public var large: CLargeHeapStatistics

    /// All zero.
    public init() {
        cageBytes = 0; liveBytes = 0
        small = CSegregatedHeapStatistics(); medium = CSegregatedHeapStatistics()
        marge = CBitfitHeapStatistics(); large = CLargeHeapStatistics()
    }

    init(_ s: PasHeap.Statistics, cageBytes: Int) {
        self.cageBytes = UInt64(cageBytes)
        liveBytes = UInt64(max(s.liveBytes, 0))
        small = CSegregatedHeapStatistics(s.small)
        medium = CSegregatedHeapStatistics(s.medium)
        marge = CBitfitHeapStatistics(s.marge)
        large = CLargeHeapStatistics(s.large)
    }
}

/// `pas_typed_heap_statistics` (pas_typed_heap.h).
@frozen
public struct CTypedHeapStatistics: Sendable, Equatable {
    /// Bytes of each object (the size class).
    public var objectSize: UInt64
    /// Alignment of every object.
    public var alignment: UInt64
    /// `pages`: the heap's pages and objects, one size class (`SegregatedHeapStatistics`).
    public var pages: CSegregatedHeapStatistics

    /// All zero.
    public init() {
        objectSize = 0; alignment = 0; pages = CSegregatedHeapStatistics()
    }

    init(objectSize: Int, alignment: Int, pages: SegregatedHeapStatistics) {
        self.objectSize = UInt64(objectSize)
        self.alignment = UInt64(alignment)
        self.pages = CSegregatedHeapStatistics(pages)
    }
}

/// `pas_heap_region` values (pas_heap.h).
public enum CHeapRegion: UInt32, Sendable, CaseIterable {
    case foreign = 0, small = 1, medium = 2, marge = 3, large = 4

    init(_ region: PasHeap.Region) {
        switch region {
        case .foreign: self = .foreign
        case .small: self = .small
        case .medium: self = .medium
        case .marge: self = .marge
        case .large: self = .large
        }
    }
}
