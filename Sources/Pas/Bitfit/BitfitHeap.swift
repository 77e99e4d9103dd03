import PasSystem

/// A first-fit heap over bitfit pages of one config: one free bit per granule plus an
/// end-of-object bit, so objects carry no header and any size up to `Config.maxObjectSize`
/// shares a page with any other.
///
/// Memory: pages come from `chunks`, `Config.pagesPerChunk` at a time. Metadata (page
/// entries, headers of out-of-line configs, the page map, the fit index) lives in side
/// memory from `VirtualMemory`; with an out-of-line config the heap never reads or writes
/// a byte of chunk memory, which makes it fit for code.
///
/// Pointer → page: a two-level radix table keyed by `address >> log2(chunkSize)` gives the
/// chunk's metadata block (two loads, no lock); the page is `(address - chunkBase) / pageSize`.
///
/// Thread-safety: every method may be called from any thread. One lock per heap (its
/// directory's lock) protects all pages' bits, hints and counters; `owns` takes no lock.
/// Errors: misuse gives a typed `PasError`, never silent corruption.
public final class BitfitHeap<Config: BitfitConfig, Chunks: ChunkSource>: @unchecked Sendable {
    @usableFromInline let directory: BitfitDirectory<Config, Chunks>

    /// The chunk source pages come from.
    public var chunks: Chunks { directory.chunks }

    /// The page sharing registration, or nil when the heap has no pool. Set once in `init`.
    private var registration: PageSharingRegistration?

    /// Creates an empty heap that reports its empty pages to `pageSharing` (by default the
    /// process-wide pool), whose scavenger decommits pages empty for longer than
    /// `scavengeDelay` (nil: the pool's delay). Pages are stamped with the pool's clock.
    /// Pass `pageSharing: nil` for a heap whose pages are decommitted only on request.
    /// No memory is taken from `chunks` until the first allocation.
    /// Precondition: an inline-header config needs `chunks.allowsMetadataInChunks`.
    /// Cost: maps a few side tables (address space, not RAM). Traps if even that fails.
    public convenience init(chunks: Chunks, pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil) {
        self.init(
            chunks: chunks, time: pageSharing?.timeSource ?? MonotonicTimeSource(),
            pool: pageSharing, delay: scavengeDelay)
    }

    /// Creates an empty heap outside any page sharing pool: `timeSource` stamps pages when
    /// they become empty (see `decommitEmptyPages(olderThan:)`), and pages are
    /// decommitted only on request.
    public convenience init(chunks: Chunks, timeSource: any TimeSource) {
        self.init(chunks: chunks, time: timeSource, pool: nil, delay: nil)
    }

    init(chunks: Chunks, time: any TimeSource, pool: PageSharingPool?, delay: Duration?) {
        do {
            directory = try BitfitDirectory(chunks: chunks, time: time, pool: pool)
        } catch {
            fatalError("BitfitHeap<\(Config.self)>: cannot map side tables: \(error)")
        }
        registration = pool?.register(self, delay: delay)
        ForkRegistry.register(self, stage: .heap)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .heap)
        if let registration { directory.pool?.unregister(registration) }
    }

    /// The pool this heap reports empty pages to, or nil.
    public var pageSharing: PageSharingPool? { directory.pool }

    /// Allocates `size` bytes (rounded up to granules) aligned to `alignment`, first fit by
    /// page then by address. Never writes the returned memory.
    ///
    /// Throws `.invalidSize(.allocate, size)` for `size <= 0` or `size > Config.maxObjectSize`,
    /// `.invalidAlignment(.allocate, alignment)` for a non-power-of-two alignment or one no page
    /// can provide for this size, and the chunk source's error when growing or committing fails.
    /// Cost: a scan of the page's free bits; pages whose hint says they cannot fit are skipped.
    @inlinable
    public func allocate(size: Int, alignment: Int = Config.granule) throws(PasError) -> UnsafeMutableRawPointer {
        // The hooked variant (BitfitHeap+Hooks.swift) with a step that does nothing: it inlines away.
        try allocate(size: size, alignment: alignment) { _, _ throws(PasError) in }
    }

    /// Frees the object starting at `pointer`. Never writes the freed memory.
    /// Throws `.unknownPointer(.deallocate, …)` for an address outside this heap's pages or
    /// not at the start of a live object, `.doubleFree(.deallocate, …)` for a free granule.
    /// Cost: a page-map lookup and a scan for the end bit.
    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        try deallocate(pointer) { _, _ throws(PasError) in }
    }

    /// The usable size of the live object at `pointer`: its granule count times `Config.granule`.
    /// Throws like `deallocate` (with `.sizeQuery`).
    @inlinable
    public func size(of pointer: UnsafeRawPointer) throws(PasError) -> Int {
        let address = UInt(bitPattern: pointer)
        guard let e = directory.entry(containing: address) else { throw .unknownPointer(.sizeQuery, address: address) }
        directory.lock.lock()
        defer { directory.lock.unlock() }
        let start = try objectStart(e, address, .sizeQuery)
        return (BitfitPage<Config>(e).objectEnd(start) &- start &+ 1) &<< Config.granuleShift
    }

    /// Shrinks the live object at `pointer` to `newSize` bytes (rounded up to granules) and
    /// frees its tail. Throws `.invalidSize(.shrink, newSize)` if `newSize <= 0` or larger than
    /// the object, and like `deallocate` for a bad pointer. Never writes the object's memory.
    @inlinable
    public func shrink(_ pointer: UnsafeMutableRawPointer, to newSize: Int) throws(PasError) {
        _ = try shrink(pointer, to: newSize) { _, _ throws(PasError) in }
    }

    /// Resizes the live object at `pointer` to `newSize` bytes without moving it: shrinking
    /// always succeeds; growing succeeds if the granules after the object are free and the
    /// new size is at most `Config.maxObjectSize`. Returns whether the object now has room
    /// for `newSize` bytes. Throws `.invalidSize(.reallocate, newSize)` for `newSize <= 0`,
    /// and like `deallocate` for a bad pointer.
    @inlinable
    public func tryReallocateInPlace(_ pointer: UnsafeMutableRawPointer, to newSize: Int) throws(PasError) -> Bool {
        let address = UInt(bitPattern: pointer)
        guard let e = directory.entry(containing: address) else { throw .unknownPointer(.reallocate, address: address) }
        guard newSize > 0 else { throw .invalidSize(.reallocate, newSize) }
        directory.lock.lock()
        defer { directory.lock.unlock() }
        let start = try objectStart(e, address, .reallocate)
        guard newSize <= Config.maxObjectSize else { return false }
        let count = (newSize &+ Config.granule &- 1) &>> Config.granuleShift
        let page = BitfitPage<Config>(e)
        let end = page.objectEnd(start)
        if count <= end &- start &+ 1 {
            let hint = e.pointee.largestFreeHint
            let freed = page.shrink(start: start, end: end, to: count)
            if freed > 0 { directory.didFree(e, granules: freed, hintBefore: hint, object: false) }
            return true
        }
        let taken = page.grow(start: start, end: end, to: count)
        guard taken > 0 else { return false }
        directory.state.pointee.liveGranules &+= taken
        return true
    }

    /// True if `pointer` lies in one of this heap's pages (live, free or header). Lock-free;
    /// two loads.
    @inlinable
    public func owns(_ pointer: UnsafeRawPointer) -> Bool {
        directory.pageMap.lookup(UInt(bitPattern: pointer)) != nil
    }

    /// The first granule of the live object at `address`, or the matching error. Needs the lock.
    @inlinable
    func objectStart(_ e: UnsafeMutablePointer<BitfitPageEntry>, _ address: UInt, _ op: PasOperation) throws(PasError) -> Int {
        switch BitfitPage<Config>(e).classify(address) {
        case .objectStart(let start): return start
        case .free: throw .doubleFree(op, address: address)
        case .unknown: throw .unknownPointer(op, address: address)
        }
    }

    // MARK: Maintenance and introspection (slow paths; each holds the lock throughout)

    /// Checks every page's free and end bits against its counters and hints, the fit index
    /// against the hints, the page map against the chunks, and the heap totals against the
    /// pages. Returns the problems found (empty when consistent). Cost: a pass over all bits.
    @discardableResult
    public func verify() -> [BitfitProblem] { directory.verify() }

    /// A snapshot of the heap's memory use. Cost: O(1) under the lock.
    public var statistics: BitfitStatistics { directory.statistics() }

    /// Decommits (through `chunks.decommit`) every page that has been entirely free for at
    /// least `olderThan` by the heap's time source (`.zero`: every entirely free page); such
    /// pages are committed again (`chunks.commit`) before reuse. Returns the bytes decommitted.
    /// Pages decommitted before a failure stay decommitted; the error is rethrown.
    /// Cost: a pass over the directory's empty pages under the heap's lock, plus one system
    /// call per run of adjacent pages. Thread-safe.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        guard let limit = age.emptySinceLimit(now: { directory.time.nowNanoseconds() }) else { return 0 }
        return try directory.decommitEmptyPages(emptySinceAtMost: limit)
    }

    /// Calls `body` with every committed empty page and the time it became empty, for page
    /// sharing. The heap's lock is held: `body` must not call back into this heap.
    public func forEachEmptyPage(_ body: (MemoryRange, UInt64) throws -> Void) rethrows {
        try directory.forEachEmptyPage(body)
    }

    /// Calls `body` with the start and size of every live object. The heap's lock is held:
    /// `body` must not call back into this heap.
    public func forEachLiveObject(_ body: (UnsafeMutableRawPointer, Int) throws -> Void) rethrows {
        try directory.forEachLiveObject(body)
    }
}
