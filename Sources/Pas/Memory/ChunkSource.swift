import PasSystem

/// Supplies a heap with page-aligned chunks of usable memory, and takes back the physical
/// pages of ranges the heap no longer needs.
///
/// General heaps draw from `ReservationChunkSource` (private anonymous memory); the JIT
/// heap draws from its code region. Heaps are generic over their chunk source, so the call
/// specialises and costs nothing more than a direct call. None of these calls is on an
/// allocation fast path.
///
/// Contract:
/// - `allocateChunk` returns a range aligned to `alignment` (a power of two, at least
///   `pageSize`) of `byteCount` bytes (a multiple of `pageSize`), readable and writable
///   through `writableAddress(of:)`, and reading zero on first use.
/// - `decommit` gives the physical pages of a page-aligned range inside an allocated chunk back
///   to the system; the range reads zero afterwards. `commit` must be called before the range
///   is used again (it may be a no-op for memory that re-commits on touch).
/// - Chunks are never returned: address space stays with the heap for its lifetime.
public protocol ChunkSource: AnyObject, Sendable {
    /// Granularity of `decommit` and `commit`.
    var pageSize: Int { get }
    /// Hands out a fresh chunk. Throws `.outOfMemory` when the source is exhausted.
    func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange
    /// Returns the physical pages behind `range` to the system.
    func decommit(_ range: MemoryRange) throws(PasError)
    /// Makes a decommitted range usable again.
    func commit(_ range: MemoryRange) throws(PasError)
    /// True if the allocator may write into chunk memory (headers, free lists, fill
    /// patterns). False for code memory: then no allocator metadata may live inside chunks.
    var allowsMetadataInChunks: Bool { get }
}

/// A chunk source that carves chunks out of large reservations made through a page source.
///
/// Reservations are made in `reservationSize` steps (default 64 MiB) and committed
/// chunk by chunk. Thread-safety: all methods may be called concurrently; `lock` protects
/// the bump cursor and the list of reservations.
public final class ReservationChunkSource<Source: PageSource>: ChunkSource, @unchecked Sendable {
    /// The page source reservations are made through.
    public let source: Source
    /// Bytes reserved at a time (a larger chunk gets a reservation of its own).
    public let reservationSize: Int
    /// The page source's page size: the granularity of `decommit` and `commit`.
    public var pageSize: Int { source.pageSize }
    /// True: chunks are ordinary read-write memory, so heaps may keep metadata in them.
    public var allowsMetadataInChunks: Bool { true }

    /// Protects `cursor`, `limit` and `reservations`. Held across reserve/commit system calls
    /// (slow path only), so it is taken before the page source's own lock; no other Pas lock
    /// is taken while it is held (fork stage `leaf`; a `SystemPageSource` is registered for
    /// the later stage `pageSource`).
    private let lock = FutexLock()
    private var cursor: UInt = 0
    private var limit: UInt = 0
    private var reservations: [MemoryRange] = []

    /// A source that reserves `reservationSize` bytes at a time from `source`. Registers with
    /// `ForkRegistry`; reserves nothing until the first chunk. Thread-safe once created.
    public init(source: Source, reservationSize: Int = 64 << 20) {
        self.source = source
        self.reservationSize = reservationSize
        ForkRegistry.register(self, stage: .leaf)
        if let system = source as? SystemPageSource { ForkRegistry.register(system, stage: .pageSource) }
    }

    deinit {
        ForkRegistry.unregister(self, stage: .leaf)
        if let system = source as? SystemPageSource { ForkRegistry.unregister(system, stage: .pageSource) }
        for r in reservations { try? source.release(r) }
    }

    /// Commits and hands out `byteCount` bytes (a multiple of the page size) aligned to
    /// `alignment` (a power of two), reserving more address space when the current reservation
    /// is used up. Throws `.invalidSize`, `.invalidAlignment` or the page source's error.
    /// Cost: one or two system calls, under `lock`. Thread-safe.
    public func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        let page = source.pageSize
        guard byteCount > 0, byteCount % page == 0 else { throw .invalidSize(.allocate, byteCount) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.allocate, alignment) }
        let align = max(alignment, page)
        lock.lock()
        defer { lock.unlock() }
        var start = Alignment.roundUp(cursor, to: align)
        if cursor == 0 || start < cursor || UInt(byteCount) > limit &- start || start > limit {
            // Big requests get a reservation of their own; small ones share a fresh one.
            let size = max(reservationSize, byteCount)
            let r = try source.reserve(byteCount: size, alignment: align)
            reservations.append(r)
            cursor = r.start
            limit = r.end
            start = r.start
        }
        let chunk = MemoryRange(start: start, byteCount: byteCount)
        try source.commit(chunk, protection: .readWrite)
        cursor = chunk.end
        return chunk
    }

    /// Gives the physical pages of `range` back through the page source; it reads zero
    /// afterwards. Throws the page source's error. Cost: one system call, no lock. Thread-safe.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        try source.decommit(range)
    }

    /// Makes a decommitted `range` usable again (tells the page source; private memory
    /// re-commits on touch). Throws the page source's error. No lock. Thread-safe.
    public func commit(_ range: MemoryRange) throws(PasError) {
        // Decommitted private memory stays accessible and re-commits on touch; only tell the
        // source so that a mock can observe (and fail) the step.
        try source.commit(range, protection: .readWrite)
    }

    /// Bytes of address space reserved so far.
    public var reservedBytes: Int { lock.withLock { reservations.reduce(0) { $0 + $1.byteCount } } }
}

/// Fork: the cursor lock is held across the fork (stage `leaf`).
extension ReservationChunkSource: ForkParticipant {
    /// Takes the cursor lock. Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) { lock.lock() }
    /// Releases the cursor lock, in the parent.
    public func parentAfterFork(_ stage: ForkStage) { lock.unlock() }
    /// Releases the cursor lock, in the child.
    public func childAfterFork(_ stage: ForkStage) { lock.unlock() }
}
