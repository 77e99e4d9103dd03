import PasSystem
import Synchronization

/// A heap for large objects: first fit over free ranges kept in a treap (ordered by
/// address, augmented with the largest size per subtree), with a large map from each
/// object's start to its size and type.
///
/// - Requests round up to `granule`; alignment may be any power of two up to
///   `LargeHeap.maxAlignment`; the slack an alignment leaves returns to the free store.
/// - Memory comes from `chunks` in `chunkSize` steps (or bigger, for big requests). Free
///   ranges coalesce with their neighbours of the same type (see `LargeHeapType` for the
///   type memory rule).
/// - The heap never reads or writes the memory it manages: all metadata lives in ordinary
///   pages of its own, so it can manage code memory.
/// - Whole free pages can be decommitted (`decommitEmptyPages`); they are re-committed with
///   `chunks.commit` before any of their bytes is handed out again.
///
/// Thread-safety: every method may be called from any thread; one lock per heap serialises
/// them. Costs: allocate, deallocate and shrink are expected O(log n) in the number of free
/// ranges, plus system calls when the heap grows or re-commits pages.
public final class LargeHeap<Chunks: ChunkSource>: @unchecked Sendable {
    /// Largest alignment `allocate` accepts (1 GiB).
    public static var maxAlignment: Int { 1 << 30 }
    /// Largest size `allocate` accepts (64 TiB); bigger requests are `.invalidSize`.
    public static var maxObjectSize: Int { 1 << 46 }

    /// Where the managed memory comes from.
    public let chunks: Chunks
    /// Allocation granule: every size rounds up to it, every object is aligned to it.
    public let granule: Int
    /// The least amount of memory drawn from `chunks` at once.
    public let chunkSize: Int

    /// Protects `core` (all trees, the large map, the node pool and the counters). Held
    /// across chunk-source calls that grow or re-commit, so it is a sleeping lock; never held
    /// across a decommit system call (see `LargeHeap+Decommit.swift`). Lock order:
    /// `decommitLock` → this lock → the pool's thread mutex (when reporting free pages) →
    /// the chunk source's own locks; also this lock → whatever a `retire` step takes (see
    /// `LargeHeap+Hooks.swift`; the JIT heap's fill takes a toggled region's write lock).
    /// Fork stage `heap`, after `decommitLock`.
    let lock = FutexLock()
    /// Held by a decommit pass from choosing pages to recording the outcome; taken before
    /// `lock`. Allocation takes it only when its fit overlaps pages being decommitted, after
    /// dropping `lock`, to wait for the pass.
    let decommitLock = FutexLock()
    /// Created on first use, so that `init` needs no system call and cannot fail.
    var core: LargeHeapCore?
    /// Stamps frees (nanoseconds); the pool's clock when the heap has a pool.
    let time: any TimeSource
    /// The pool told when the heap gets its first free page, or nil.
    public let pageSharing: PageSharingPool?
    /// Set once in `init` when the heap has a pool.
    private var registration: PageSharingRegistration?
    /// The earliest stamp of the committed free pages (whole pages of a free range, or pages
    /// covered by several free ranges, stamped by the latest of them; see `EmptyPageSignal`).
    /// Written under `lock`; read lock-free by the scavenger.
    let emptySignal: EmptyPageSignal
    /// Where a decommit pass lists the runs it chose; mapped on first use, used only under
    /// `decommitLock`.
    var plan: DecommitPlan? = nil

    /// Creates an empty heap over `chunks`. `granule` must be a power of two no larger than the
    /// chunk source's page size; `chunkSize` a
    /// positive multiple of the chunk source's page size (both are programmer errors
    /// otherwise). Cost: no system call; metadata pages are mapped on first allocation.
    ///
    /// The heap reports free pages to `pageSharing` (by default the process-wide pool), whose
    /// scavenger decommits pages free for longer than `scavengeDelay` (nil: the pool's delay).
    /// With `pageSharing: nil` pages are decommitted only on request.
    public init(
        chunks: Chunks, granule: Int = 16, chunkSize: Int = 2 << 20,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) {
        precondition(
            Alignment.isPowerOfTwo(granule) && granule <= chunks.pageSize,
            "LargeHeap: granule \(granule) is not a power of two up to the page size \(chunks.pageSize)")
        precondition(
            chunkSize > 0 && chunkSize % chunks.pageSize == 0,
            "LargeHeap: chunkSize \(chunkSize) is not a multiple of the page size \(chunks.pageSize)")
        self.chunks = chunks
        self.granule = granule
        self.chunkSize = chunkSize
        self.time = pageSharing?.timeSource ?? MonotonicTimeSource()
        self.pageSharing = pageSharing
        self.emptySignal = EmptyPageSignal(pool: pageSharing)
        registration = pageSharing?.register(self, delay: scavengeDelay)
        ForkRegistry.register(self, stage: .heap)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .heap)
        if let registration { pageSharing?.unregister(registration) }
        // Chunks stay with their source (a chunk source never takes chunks back).
        core?.releaseMetadata()
        plan?.release()
    }

    func coreForMutation() throws(PasError) {
        if core == nil {
            core = try LargeHeapCore(granule: granule, chunkSize: chunkSize, pageSize: chunks.pageSize)
        }
    }

    /// Allocates at least `size` bytes aligned to `alignment`, committed, from memory that is
    /// fresh or was last freed by an object of the same `type`.
    ///
    /// Throws `.invalidSize` for a size that is not positive or above `maxObjectSize`,
    /// `.invalidAlignment` for an alignment that is not a power of two or above
    /// `maxAlignment`, and the chunk source's error when it cannot grow or re-commit (the heap
    /// is unchanged then). Expected O(log n).
    public func allocate(size: Int, alignment: Int = 16, type: LargeHeapType = .untyped) throws(PasError)
        -> UnsafeMutableRawPointer
    {
        guard size > 0, size <= Self.maxObjectSize, let rounded = Alignment.roundUp(size, to: granule) else {
            throw .invalidSize(.allocate, size)
        }
        guard Alignment.isPowerOfTwo(alignment), alignment <= Self.maxAlignment else {
            throw .invalidAlignment(.allocate, alignment)
        }
        while true {
            lock.lock()
            let address: UInt
            let chunkBytesBefore = core?.chunkBytes ?? 0
            do {
                try coreForMutation()
                address = try core!.allocate(
                    size: rounded, alignment: Swift.max(alignment, granule),
                    type: type.rawValue, chunks: chunks, now: time.nowNanoseconds())
            } catch {
                lock.unlock()
                throw error
            }
            if address != 0 {
                noteAllocated(grew: core!.chunkBytes != chunkBytesBefore)
                lock.unlock()
                // Invariant: chunk memory never starts at address 0.
                return UnsafeMutableRawPointer(bitPattern: address)!
            }
            // The fit overlaps pages a decommit pass is returning: wait for it, then retry.
            if core!.chunkBytes != chunkBytesBefore { noteFreePages(since: core!.epoch) }
            lock.unlock()
            decommitLock.lock()
            decommitLock.unlock()
        }
    }

    /// Frees the object that starts at `pointer`.
    ///
    /// Throws `.doubleFree` if `pointer` lies in free memory of this heap (a second free, or a
    /// pointer into memory never handed out) and `.unknownPointer` for any other pointer that
    /// is not the start of a live object (foreign or interior). Expected O(log n).
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        // The hooked variant with an empty step (see `LargeHeap+Hooks.swift`).
        try deallocate(pointer) { _, _ throws(PasError) in }
    }

    /// The usable size of the live object that starts at `pointer` (its request rounded up
    /// to the granule, or its shrunk size). Errors as for `deallocate`. Expected O(1).
    public func size(of pointer: UnsafeRawPointer) throws(PasError) -> Int {
        let address = UInt(bitPattern: pointer)
        lock.lock()
        defer { lock.unlock() }
        guard let core else { throw .unknownPointer(.sizeQuery, address: address) }
        return try core.size(of: address)
    }

    /// Shrinks the live object at `pointer` in place to `newSize` (rounded up to the
    /// granule); the tail returns to the free store with the object's type.
    ///
    /// Throws `.invalidSize` for a size that is not positive or larger than the object, and
    /// errors as for `deallocate` for a bad pointer. Expected O(log n).
    public func shrink(_ pointer: UnsafeMutableRawPointer, to newSize: Int) throws(PasError) {
        // The hooked variant with an empty step (see `LargeHeap+Hooks.swift`).
        try shrink(pointer, to: newSize) { _, _ throws(PasError) in }
    }

    /// True if `pointer` is the start of a live object of this heap (interior pointers give
    /// false; use `contains` for "inside this heap's memory"). Expected O(1).
    public func owns(_ pointer: UnsafeRawPointer) -> Bool {
        let address = UInt(bitPattern: pointer)
        lock.lock()
        defer { lock.unlock() }
        return core?.map.find(address) != nil
    }

    /// True if `address` lies in memory this heap manages (live, free or decommitted).
    /// Expected O(log n).
    public func contains(_ address: UInt) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return core?.contains(address) ?? false
    }

    /// Checks every invariant: tree order, heap order and subtree sizes of each treap, no
    /// overlaps, free ranges and objects tiling the chunks, coalescing, the large map and the
    /// counters. Throws `.unsupported` naming the first broken invariant. O(n log n); takes
    /// the lock for its whole run.
    public func verify() throws(PasError) {
        lock.lock()
        defer { lock.unlock() }
        try core?.verify()
    }

    /// Calls `body` with the start, size and type of every live object, in no particular
    /// order. For introspection and tests, not a fast path: O(capacity of the large map).
    /// `body` runs under the heap's lock, so it must not call into this heap.
    public func forEachLiveObject(_ body: (UnsafeMutableRawPointer, Int, LargeHeapType) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        guard let core else { return }
        core.map.forEachEntry { (e: LargeMapEntry) in
            // Invariant: map entries are never 0 (an empty slot).
            body(UnsafeMutableRawPointer(bitPattern: e.start)!, Int(e.size), LargeHeapType(rawValue: e.type))
        }
    }

    /// A consistent snapshot of the heap's accounting. O(1).
    public var statistics: LargeHeapStatistics {
        lock.lock()
        defer { lock.unlock() }
        guard let c = core else {
            return LargeHeapStatistics(
                liveBytes: 0, freeBytes: 0, objectCount: 0, freeRangeCount: 0,
                committedBytes: 0, decommittedBytes: 0, chunkBytes: 0, metadataBytes: 0)
        }
        return LargeHeapStatistics(
            liveBytes: c.liveBytes, freeBytes: c.freeBytes, objectCount: c.map.count,
            freeRangeCount: c.freeRangeCount,
            committedBytes: c.chunkBytes - c.decommittedBytes,
            decommittedBytes: c.decommittedBytes, chunkBytes: c.chunkBytes,
            metadataBytes: c.pool.metadataBytes + c.map.metadataBytes)
    }

    /// The free epoch: the stamp of the latest free, shrink or growth, in the time source's
    /// nanoseconds (strictly increasing). Every free range remembers the epoch at which it
    /// last grew. A scavenger samples it at time T and later passes the sample to
    /// `decommitEmptyPages(emptySinceAtMost:)` to decommit only memory that has been free since T.
    public var freeEpoch: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return core?.epoch ?? 0
    }

    /// Decommits, through `chunks.decommit`, every whole page of free memory that is not
    /// decommitted yet (including partial pages covered by adjacent free ranges of different
    /// types) and has been free for at least `olderThan` by the heap's time source (`.zero`: all
    /// of them; a range that merged with a newer free counts as new), and returns the bytes
    /// decommitted. Pages partly used by a live object stay. On a failure the pages decommitted
    /// so far stay recorded and the error is thrown. Cost: O(free ranges × log n) plus one
    /// system call per run of pages; the heap's lock is not held during the system calls.
    /// Thread-safe (one pass at a time).
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        guard let limit = age.emptySinceLimit(now: { time.nowNanoseconds() }) else { return 0 }
        return try decommitEmptyPages(emptySinceAtMost: limit)
    }
}
