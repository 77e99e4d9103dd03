import PasSystem

/// A heap for values of one type `T`: a segregated heap with a single size class of
/// `MemoryLayout<T>.stride` bytes (rounded up to 16 and to `T`'s alignment).
///
/// Type safety: the heap's pages only ever hold `T`s. Empty pages stay with the heap (they are
/// decommitted, never handed to another heap) and chunks are never returned, so memory that held
/// a `T` is never reused for another type while the heap lives.
///
/// Cheap to create: a registry entry (one allocator slot in every thread cache) and one small
/// metadata mapping; the first chunk is drawn on first allocation. Types up to 2 KiB use 16 KiB
/// pages, up to 16 KiB 128 KiB pages; larger types are refused. The fast paths skip the size
/// lookup (`allocateUnchecked()` pops the thread's allocator directly).
///
/// Thread-safety: every method may be called from any thread.
public final class IsoHeap<T, Chunks: ChunkSource>: @unchecked Sendable {
    // The fast paths touch neither heap object (that would cost a retain and a release); they
    // use `segregated.allocatorOffset` and the page layout, and hand `self` to the out-of-line
    // slow paths.
    /// The heap of `objectSize`-byte objects. Invariant: its `small` is set exactly when
    /// `usesSmallPages` (both compare `objectSize`, already a multiple of the alignment, with
    /// `SmallPagesConfig.maxObjectSize`).
    @usableFromInline let segregated: SingleClassHeap<Chunks>

    /// Bytes of each object: `T`'s stride rounded up to 16 and to its alignment.
    @inlinable
    public static var objectSize: Int {
        let align = max(MemoryLayout<T>.alignment, SizeClasses.minAlign)
        return (max(MemoryLayout<T>.stride, 1) + align - 1) & ~(align - 1)
    }

    @inlinable @inline(__always)
    static var usesSmallPages: Bool { objectSize <= SmallPagesConfig.maxObjectSize }

    /// Creates the heap over `chunks`. Throws `.invalidSize` if `T` is larger than 16 KiB.
    /// Page sharing as for `SegregatedHeap`: the pool's clock and scavenger unless `timeSource` is given.
    public init(
        chunks: Chunks, timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        segregated = try SingleClassHeap(
            chunks: chunks, objectSize: Self.objectSize,
            alignment: max(MemoryLayout<T>.alignment, SizeClasses.minAlign),
            timeSource: timeSource, pageSharing: pageSharing, scavengeDelay: scavengeDelay)
    }

    /// Memory for one `T` (uninitialised), or nil if no memory is available. Cost when the
    /// thread's allocator has a free slot: about 19 instructions, no lock, no atomic, no call.
    @inlinable @inline(__always)
    public func allocateUnchecked() -> UnsafeMutablePointer<T>? {
        // This heap owns the one allocator slot at `allocatorOffset`.
        if let p = LocalAllocator.popCallingThread(offset: segregated.allocatorOffset) {
            return p.assumingMemoryBound(to: T.self)
        }
        return isoAllocateSlowOrNil(self)?.assumingMemoryBound(to: T.self)
    }

    /// Memory for one `T` (uninitialised). Throws the chunk source's error.
    @inlinable
    public func allocate() throws(PasError) -> UnsafeMutablePointer<T> {
        let raw: UnsafeMutableRawPointer
        if Self.usesSmallPages {
            let heap = segregated.small.unsafelyUnwrapped
            if let p = heap.popLocal(classIndex: 0) { raw = p } else { raw = try heap.allocateSlow(classIndex: 0) }
        } else {
            let heap = segregated.medium.unsafelyUnwrapped
            if let p = heap.popLocal(classIndex: 0) { raw = p } else { raw = try heap.allocateSlow(classIndex: 0) }
        }
        return raw.bindMemory(to: T.self, capacity: 1)
    }

    /// Frees memory from `allocate`. Preconditions (unchecked): allocated here, not freed since,
    /// already deinitialised by the caller.
    @inlinable @inline(__always)
    public func deallocateUnchecked(_ pointer: UnsafeMutablePointer<T>) {
        let address = UInt(bitPattern: pointer)
        let owned =
            Self.usesSmallPages
            ? segregatedFreeIfOwned(address, layout: SmallPagesConfig.layout)
            : segregatedFreeIfOwned(address, layout: MediumPagesConfig.layout)
        if !owned { isoDeallocateNotOwned(self, address) }
    }

    /// Frees memory from `allocate`, checked like `SegregatedHeap.deallocate(_:)`.
    public func deallocate(_ pointer: UnsafeMutablePointer<T>) throws(PasError) {
        try segregated.deallocate(pointer)
    }

    /// Allocates and initialises a `T`.
    @inlinable
    public func create(_ value: T) throws(PasError) -> UnsafeMutablePointer<T> {
        let p = try allocate()
        p.initialize(to: value)
        return p
    }

    /// Checks `pointer`, deinitialises the `T` there and frees it. Throws (and touches nothing)
    /// for a pointer that is not a live object of this heap.
    public func destroy(_ pointer: UnsafeMutablePointer<T>) throws(PasError) {
        _ = try segregated.size(of: pointer)
        pointer.deinitialize(count: 1)
        try deallocate(pointer)
    }

    /// See `SegregatedHeap.statistics`.
    public var statistics: SegregatedHeapStatistics { segregated.statistics }
    /// See `SegregatedHeap.verify()`.
    public func verify() throws(PasError) { try segregated.verify() }
    /// See `SegregatedHeap.decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        try segregated.decommitEmptyPages(olderThan: age)
    }
    /// See `SegregatedHeap.flushThreadCache()`.
    public func flushThreadCache() {
        segregated.flushThreadCache()
    }
    /// True if `pointer` is a live object of this heap (checked; takes the heap lock and the
    /// page's lock).
    public func contains(_ pointer: UnsafeRawPointer) -> Bool {
        (try? segregated.size(of: pointer)) != nil
    }
}

@usableFromInline @inline(never)
func isoAllocateSlowOrNil<T, Chunks>(_ heap: IsoHeap<T, Chunks>) -> UnsafeMutableRawPointer? {
    heap.segregated.allocateSlowOrNil()
}

@usableFromInline @inline(never)
func isoDeallocateNotOwned<T, Chunks>(_ heap: IsoHeap<T, Chunks>, _ address: UInt) {
    heap.segregated.deallocateNotOwned(address)
}

extension IsoHeap where Chunks == ReservationChunkSource<SystemPageSource> {
    /// An isoheap over its own `ReservationChunkSource(source: SystemPageSource.shared)`.
    public convenience init(
        timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        try self.init(
            chunks: ReservationChunkSource(source: SystemPageSource.shared), timeSource: timeSource,
            pageSharing: pageSharing, scavengeDelay: scavengeDelay)
    }
}

/// An isoheap over the system's pages.
public typealias SystemIsoHeap<T> = IsoHeap<T, ReservationChunkSource<SystemPageSource>>
