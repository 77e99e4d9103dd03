import PasSystem

/// A segregated heap with one size class, on the pages its object size needs: small pages
/// (16 KiB) for objects up to `SmallPagesConfig.maxObjectSize` bytes, medium pages (128 KiB)
/// up to `MediumPagesConfig.maxObjectSize`. Exactly one of `small` and `medium` is set.
///
/// The heap behind `IsoHeap` (objects of one Swift type) and the C API's typed heap (objects
/// of one size known at run time). A value holding the heap object: copies share the heap.
/// Cost and thread-safety: those of the `SegregatedHeap` method each call forwards to, after
/// one branch on which heap is set; every method may be called from any thread.
public struct SingleClassHeap<Chunks: ChunkSource>: Sendable {
    // Invariant: exactly one of `small` and `medium` is set (by the initialiser, for good), so
    // `medium.unsafelyUnwrapped` where `small` is nil never unwraps nil.
    @usableFromInline let small: SegregatedHeap<SmallPagesConfig, Chunks>?
    @usableFromInline let medium: SegregatedHeap<MediumPagesConfig, Chunks>?
    /// Bytes of each object: the requested size rounded up to `alignment`.
    public let objectSize: Int
    /// Alignment of every object (at least 16).
    public let alignment: Int
    /// Byte offset of the heap's only local allocator in a thread cache (stored, so that a fast
    /// path reads it with one load).
    @usableFromInline let allocatorOffset: Int

    /// Creates the heap over `chunks`. Throws `.invalidAlignment` for an alignment that is not
    /// a power of two or above a medium page, `.invalidSize` for a size of 0 or above
    /// `MediumPagesConfig.maxObjectSize` after rounding (naming `objectSize` as given), and
    /// the registry's error when it is full. Page sharing as for `SegregatedHeap`.
    /// Cost: a registry entry and one small metadata mapping; no chunk before first use.
    public init(
        chunks: Chunks, objectSize requested: Int, alignment requestedAlignment: Int = SizeClasses.minAlign,
        timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        guard Alignment.isPowerOfTwo(requestedAlignment), requestedAlignment <= MediumPagesConfig.layout.pageSize else {
            throw .invalidAlignment(.allocate, requestedAlignment)
        }
        let align = max(requestedAlignment, SizeClasses.minAlign)
        guard requested > 0, let size = Alignment.roundUp(requested, to: align),
            size <= MediumPagesConfig.maxObjectSize
        else { throw .invalidSize(.allocate, requested) }
        if size <= SmallPagesConfig.maxObjectSize {
            let heap = try SegregatedHeap<SmallPagesConfig, Chunks>(
                chunks: chunks, objectSize: size, alignment: align,
                timeSource: timeSource, pageSharing: pageSharing,
                scavengeDelay: scavengeDelay)
            small = heap
            medium = nil
            allocatorOffset = heap.allocatorOffset
        } else {
            let heap = try SegregatedHeap<MediumPagesConfig, Chunks>(
                chunks: chunks, objectSize: size, alignment: align,
                timeSource: timeSource, pageSharing: pageSharing,
                scavengeDelay: scavengeDelay)
            small = nil
            medium = heap
            allocatorOffset = heap.allocatorOffset
        }
        objectSize = size
        alignment = align
    }

    /// One object (uninitialised). Throws the chunk source's error. Cost: a pop from the
    /// thread's cache; the heap lock on refill.
    public func allocate() throws(PasError) -> UnsafeMutableRawPointer {
        if let small { return try small.allocate(size: objectSize) }
        return try medium.unsafelyUnwrapped.allocate(size: objectSize)
    }

    /// Frees an object, checked like `SegregatedHeap.deallocate(_:)` (`.unknownPointer`,
    /// `.doubleFree`).
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        if let small { try small.deallocate(pointer) } else { try medium.unsafelyUnwrapped.deallocate(pointer) }
    }

    /// The usable size of the live object at `pointer` (see `SegregatedHeap.size(of:)`).
    public func size(of pointer: UnsafeRawPointer) throws(PasError) -> Int {
        if let small { return try small.size(of: pointer) }
        return try medium.unsafelyUnwrapped.size(of: pointer)
    }

    /// See `SegregatedHeap.statistics`.
    public var statistics: SegregatedHeapStatistics { small?.statistics ?? medium.unsafelyUnwrapped.statistics }

    /// See `SegregatedHeap.verify()`.
    public func verify() throws(PasError) {
        if let small { try small.verify() } else { try medium.unsafelyUnwrapped.verify() }
    }

    /// See `SegregatedHeap.decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        if let small { return try small.decommitEmptyPages(olderThan: age) }
        return try medium.unsafelyUnwrapped.decommitEmptyPages(olderThan: age)
    }

    /// See `SegregatedHeap.flushThreadCache()`.
    public func flushThreadCache() {
        if let small { small.flushThreadCache() } else { medium.unsafelyUnwrapped.flushThreadCache() }
    }

    /// The slow path of an allocation whose thread-cache pop failed; nil if no memory.
    @usableFromInline
    func allocateSlowOrNil() -> UnsafeMutableRawPointer? {
        if let small { return try? small.allocateSlow(classIndex: 0) }
        return try? medium.unsafelyUnwrapped.allocateSlow(classIndex: 0)
    }

    /// The unchecked free of an address the page-layout fast path did not find owned.
    @usableFromInline
    func deallocateNotOwned(_ address: UInt) {
        if let small { small.deallocateNotOwned(address) } else { medium.unsafelyUnwrapped.deallocateNotOwned(address) }
    }
}
