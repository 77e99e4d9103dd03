import PasSystem

/// A chunk source that carves every chunk from one fixed reservation (the cage), so that every
/// object of a heap drawing from it lies inside that range (Gigacage-style).
///
/// Chunks are handed out by a bump cursor, aligned as asked; when the cage is full,
/// `allocateChunk` throws `.outOfMemory`. Chunks are never returned (as for every chunk
/// source). The cage is either reserved by the source (and released when it dies) or a slice
/// of a reservation its creator keeps (then the creator releases it).
///
/// `contains` and `clamp` are pure address arithmetic on constants: no lock, no load beyond
/// `self`'s stored properties.
///
/// Thread-safety: all methods may be called concurrently; `lock` protects the cursor.
public final class CageChunkSource: ChunkSource, @unchecked Sendable {
    /// The reserved range every chunk lies in.
    public let cage: MemoryRange
    /// The system page size: the granularity of `decommit` and `commit`.
    public let pageSize: Int
    /// True: cage memory is ordinary read-write memory, so heaps may keep metadata in it.
    public var allowsMetadataInChunks: Bool { true }
    /// `cage.byteCount - 1` if the cage size is a power of two (for `clamp`), else 0.
    @usableFromInline let mask: UInt
    @usableFromInline let start: UInt
    @usableFromInline let size: UInt
    private let ownsReservation: Bool
    /// Protects `cursor`. Held across the commit system call (slow path only). Leaf lock (fork
    /// stage `leaf`).
    let lock = FutexLock()
    private var cursor: UInt

    /// Reserves a cage of `byteCount` bytes (rounded up to the page size) aligned to
    /// `alignment` (a power of two). Throws `.invalidSize`/`.invalidAlignment` for bad
    /// arguments and the reservation's error. Cost: one to three system calls.
    public convenience init(byteCount: Int, alignment: Int = 1 << 22) throws(PasError) {
        guard byteCount > 0 else { throw .invalidSize(.reserve, byteCount) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.reserve, alignment) }
        let range = try VirtualMemory.reserve(byteCount: byteCount, alignment: alignment)
        self.init(reserved: range, owns: true)
    }

    /// Takes over `range`, a page-aligned part of a reservation the caller keeps mapped (with no
    /// access or read-write) for the source's lifetime. The source does not release it.
    public convenience init(slice range: MemoryRange) throws(PasError) {
        let page = SystemInfo.pageSize
        guard range.byteCount > 0, range.byteCount % page == 0 else { throw .invalidSize(.reserve, range.byteCount) }
        guard Alignment.isAligned(range.start, to: page) else {
            throw .misaligned(.reserve, address: range.start, alignment: page)
        }
        self.init(reserved: range, owns: false)
    }

    private init(reserved: MemoryRange, owns: Bool) {
        cage = reserved
        pageSize = SystemInfo.pageSize
        start = reserved.start
        size = UInt(reserved.byteCount)
        mask = Alignment.isPowerOfTwo(reserved.byteCount) ? UInt(reserved.byteCount - 1) : 0
        ownsReservation = owns
        cursor = reserved.start
        ForkRegistry.register(self, stage: .leaf)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .leaf)
        if ownsReservation { try? VirtualMemory.release(cage) }
    }

    /// Commits and hands out the next `byteCount` bytes (a multiple of `pageSize`) of the cage,
    /// aligned to `alignment` (a power of two). Throws `.invalidSize`, `.invalidAlignment`,
    /// `.outOfMemory` when the cage is full, or the commit's error. Cost: one system call,
    /// under `lock`. Thread-safe.
    public func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        guard byteCount > 0, byteCount % pageSize == 0 else { throw .invalidSize(.allocate, byteCount) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.allocate, alignment) }
        lock.lock()
        defer { lock.unlock() }
        let chunkStart = Alignment.roundUp(cursor, to: max(alignment, pageSize))
        guard chunkStart >= cursor, chunkStart <= cage.end, UInt(byteCount) <= cage.end &- chunkStart else {
            throw .outOfMemory(.allocate, requested: byteCount)
        }
        let chunk = MemoryRange(start: chunkStart, byteCount: byteCount)
        try VirtualMemory.commit(chunk, protection: .readWrite)
        cursor = chunk.end
        return chunk
    }

    /// Gives the physical pages of `range` (inside the cage) back to the system; it reads zero
    /// afterwards. Throws `.outsideReservation` for a range outside the cage, or the system
    /// call's error. Cost: one system call, no lock. Thread-safe.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        guard cage.contains(range) else { throw .outsideReservation(.decommit, address: range.start, byteCount: range.byteCount) }
        try VirtualMemory.decommit(range)
    }

    /// Makes a decommitted `range` usable again: a check that it lies in the cage (private
    /// memory re-commits on touch). Throws `.outsideReservation` otherwise. No system call,
    /// no lock. Thread-safe.
    public func commit(_ range: MemoryRange) throws(PasError) {
        // Decommitted private memory stays read-write and re-commits on touch.
        guard cage.contains(range) else { throw .outsideReservation(.commit, address: range.start, byteCount: range.byteCount) }
    }

    /// Bytes of the cage handed out as chunks so far. Takes the lock.
    public var usedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return Int(cursor &- start)
    }

    /// True if `address` lies in the cage. Cost: a subtraction and a compare.
    @inlinable @inline(__always)
    public func contains(_ address: UInt) -> Bool { address &- start < size }

    /// `pointer` forced into the cage: unchanged if it lies inside, otherwise its offset from
    /// the cage start is wrapped (masked for a power-of-two cage, else taken modulo the size).
    /// Use it on pointers computed from untrusted offsets so that a bad offset can only reach
    /// memory of this cage. Cost: two or three arithmetic instructions for power-of-two cages.
    @inlinable @inline(__always)
    public func clamp(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let offset = UInt(bitPattern: pointer) &- start
        let wrapped = mask != 0 ? offset & mask : offset % size
        // Invariant: start is non-zero (a reservation never starts at page 0), so the sum is too.
        return UnsafeMutableRawPointer(bitPattern: start &+ wrapped).unsafelyUnwrapped
    }
}

/// Fork: the cursor lock is held across the fork (stage `leaf`).
extension CageChunkSource: ForkParticipant {
    /// Takes the cursor lock. Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) { lock.lock() }
    /// Releases the cursor lock, in the parent.
    public func parentAfterFork(_ stage: ForkStage) { lock.unlock() }
    /// Releases the cursor lock, in the child.
    public func childAfterFork(_ stage: ForkStage) { lock.unlock() }
}
