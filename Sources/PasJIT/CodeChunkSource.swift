import PasSystem
import Pas
import Synchronization

/// Hands the JIT heap's bitfit and large heaps chunks of code memory, carved from the
/// heap's code regions in the order they were added.
///
/// The allocators never write into these chunks (`allowsMetadataInChunks` is false): their
/// headers, bitmaps and trees live in ordinary memory.
///
/// Committing is where code memory becomes executable (see the invariant on `CodeRegion`):
/// a chunk handed out, and a page the allocators take back into use, is filled with
/// `commitFill` through the write path and only then made executable; a decommitted page is
/// made inaccessible before its memory is released. A slow path (system calls and a fill);
/// allocation from committed pages does none of it.
/// Thread-safety: all methods may be called concurrently.
///
/// Fork (see `CodeChunkSource+Fork.swift`): the source holds its lock and its toggled regions'
/// toggle locks across a fork (stage `leaf`), copies the code file of every dual mapping it
/// owns once every JIT lock is held (stage `snapshot`) and, in the child, maps the copies over
/// both views, so parent and child never share a code page. Cost per fork: one memfd and a
/// copy of the resident code per owned dual-mapped region. Regions a runtime donated with a
/// writable alias cannot be copied (Pas does not own their file): in the child they are
/// detached, and writes, frees, shrinks, allocations and decommits that would touch them
/// throw `.unsupported` naming fork.
public final class CodeChunkSource: ChunkSource, @unchecked Sendable {
    /// The system page: the granule of every chunk, commit and decommit.
    public var pageSize: Int { SystemInfo.pageSize }
    /// False: code memory holds no allocator metadata (a heap keeping headers in its chunks
    /// refuses this source).
    public var allowsMetadataInChunks: Bool { false }

    /// Fixed capacity of the region table.
    static let maxRegions = 64

    /// Region records for lock-free lookup by address. Entries `0 ..< count` are immutable
    /// once published by the release store of `count`.
    /// Invariant: allocated once with `maxRegions` entries, never freed while `self` lives.
    private let records: UnsafeMutablePointer<RegionRecord>
    private let count = Atomic<Int>(0)

    /// Protects `regions` (ownership of the region objects), `cursors` (the next free
    /// address in each region) and `forkCopies`, and serialises publication of new records.
    /// Leaf lock (fork stage `leaf`): taken under the sub-heaps' locks, never with a region's
    /// toggle lock.
    let lock = FutexLock()
    var regions: [CodeRegion] = []
    private var cursors: [UInt] = []
    /// Copies of the owned dual mappings' files made by the fork prepare handler, one slot per
    /// region (nil: not dual mapped by us, the copy failed, or no fork in progress).
    var forkCopies: [MemoryFile?] = []

    struct RegionRecord {
        var start: UInt
        var end: UInt
        var writeOffset: UInt
        /// Writes need the region's `mprotect` window (`.toggled` mode).
        var toggled: Bool
        /// The region is shared with a parent process since a fork and must not be written (see
        /// `CodeRegion.detachedByFork`). Set only in a fork child's handler.
        var detached: Bool
        /// Kept alive by `regions`, which never shrinks while `self` lives.
        var region: Unmanaged<CodeRegion>
    }

    /// The word committed pages are filled with (the trap instruction).
    let commitFill: UInt32

    /// True once a `.toggled` region has been added: the heap then gives every block whole
    /// pages and refuses calls from inside a write scope. Set before the region is published;
    /// read with relaxed loads (a stale false is impossible for blocks of that region, which
    /// can only be allocated after the region was published).
    let hasToggledRegion = Atomic<Bool>(false)

    init(commitFill: UInt32) {
        records = .allocate(capacity: Self.maxRegions)
        self.commitFill = commitFill
        ForkRegistry.register(self, stage: .leaf)
        ForkRegistry.register(self, stage: .snapshot)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .leaf)
        ForkRegistry.unregister(self, stage: .snapshot)
        records.deallocate()
    }

    /// True once a fork child detached a region (see `detach`); then `checkAttached` looks the
    /// address up. Written only by a fork child's handler (single-threaded), never cleared.
    private(set) var hasDetachedRegions = false

    /// Marks region `index` as shared with the parent process (fork child only, single-threaded).
    func detach(regionAt index: Int) {
        regions[index].detachedByFork = true
        records[index].detached = true
        hasDetachedRegions = true
    }

    /// Throws `.unsupported(operation, …)` if `address` lies in a region detached by a fork.
    /// Lock-free; one load unless a fork detached a region.
    @inline(__always)
    func checkAttached(_ address: UInt, _ operation: PasOperation) throws(PasError) {
        guard hasDetachedRegions, let i = recordIndex(containing: address), records[i].detached else { return }
        throw CodeRegion.detachedError(operation, region: records[i].region.takeUnretainedValue())
    }

    /// Adds a region; allocation draws on regions in the order they were added. `prepare` runs
    /// once the region is known not to overlap another, before it is published (under this
    /// source's lock; it must not call back into the source).
    func add(_ region: CodeRegion, prepare: () throws(PasError) -> Void = {}) throws(PasError) {
        try lock.withLock { () throws(PasError) in
            let n = count.load(ordering: .relaxed)
            guard n < Self.maxRegions else { throw .unsupported(.reserve, reason: "more than \(Self.maxRegions) code regions") }
            for r in regions where r.executable.overlaps(region.executable) {
                throw .overlapping(.reserve, address: region.executable.start, byteCount: region.executable.byteCount)
            }
            try prepare()
            if region.mode == .toggled { hasToggledRegion.store(true, ordering: .relaxed) }
            regions.append(region)
            cursors.append(region.executable.start)
            forkCopies.append(nil)
            (records + n).initialize(
                to: RegionRecord(
                    start: region.executable.start, end: region.executable.end,
                    writeOffset: region.writeOffset, toggled: region.mode == .toggled,
                    detached: false, region: Unmanaged.passUnretained(region)))
            count.store(n + 1, ordering: .releasing)
        }
    }

    /// The region holding `address`, or nil. Lock-free.
    @inline(__always)
    func region(containing address: UInt) -> CodeRegion? {
        guard let i = recordIndex(containing: address) else { return nil }
        return records[i].region.takeUnretainedValue()
    }

    /// Index of the record holding `address`, or nil. Lock-free; a linear scan over a few entries.
    @inline(__always)
    func recordIndex(containing address: UInt) -> Int? {
        let n = count.load(ordering: .acquiring)
        for i in 0 ..< n where address >= records[i].start && address < records[i].end { return i }
        return nil
    }

    /// The record at `index` (from `recordIndex(containing:)`). Lock-free.
    @inline(__always)
    func record(_ index: Int) -> RegionRecord { records[index] }

    /// True if `address` lies in any code region.
    @inline(__always)
    func contains(_ address: UInt) -> Bool { recordIndex(containing: address) != nil }

    /// True if `address` lies in a `.toggled` region.
    @inline(__always)
    func isToggled(_ address: UInt) -> Bool {
        guard let i = recordIndex(containing: address) else { return false }
        return records[i].toggled
    }

    /// The start of a write scope the calling thread holds open on any region, or nil.
    /// Lock-free; a scan over the few region records.
    func openWriteScopeOfCurrentThread() -> UInt? {
        let n = count.load(ordering: .acquiring)
        for i in 0 ..< n where records[i].toggled {
            if let open = records[i].region.takeUnretainedValue().openWriteScopeOfCurrentThread() { return open }
        }
        return nil
    }

    /// All regions, in the order they were added.
    var allRegions: [CodeRegion] { lock.withLock { regions } }

    /// Bytes of code address space handed to heaps so far.
    var usedBytes: Int {
        lock.withLock { zip(regions, cursors).reduce(0) { $0 + Int($1.1 - $1.0.executable.start) } }
    }

    /// Carves a chunk of `byteCount` bytes (a multiple of the page) aligned to `alignment`
    /// (at least a page) from the first region with room, and commits it: trap-filled through
    /// the write path, then executable. Throws `.invalidSize`, `.invalidAlignment`,
    /// `.outOfMemory` when no region has room, or the commit's error (the chunk is then given
    /// back if nothing was carved after it). Cost: a scan of the regions under the source's
    /// lock, then the fill and an `mprotect` outside it. Thread-safe.
    public func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        guard byteCount > 0, byteCount % pageSize == 0 else { throw .invalidSize(.allocate, byteCount) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.allocate, alignment) }
        let align = max(alignment, pageSize)
        let (chunk, region) = try lock.withLock { () throws(PasError) -> (MemoryRange, CodeRegion) in
            for i in regions.indices {
                let start = Alignment.roundUp(cursors[i], to: align)
                let end = regions[i].executable.end
                if start >= cursors[i], start <= end, UInt(byteCount) <= end - start {
                    cursors[i] = start + UInt(byteCount)
                    return (MemoryRange(start: start, byteCount: byteCount), regions[i])
                }
            }
            throw .outOfMemory(.allocate, requested: byteCount)
        }
        // The allocators treat a new chunk as committed. Outside the lock: the range is ours.
        do {
            try region.commit(chunk, fill: commitFill)
        } catch {
            // Give the address space back if nothing was carved after it; otherwise it stays
            // unused (and inaccessible, or committed: either way consistent).
            lock.withLock {
                if let i = regions.firstIndex(where: { $0 === region }), cursors[i] == chunk.end {
                    cursors[i] = chunk.start
                }
            }
            try? region.decommit(chunk)
            throw error
        }
        return chunk
    }

    /// Makes `range` (pages of one region) inaccessible, then releases its memory (a hole
    /// punched in the code file for a dual mapping). Throws `.outsideReservation` for a range
    /// outside every region, and the region's error (a region detached by fork refuses).
    /// Cost: a lock-free region lookup and the system calls. Thread-safe.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        // A region detached by fork throws from `CodeRegion.decommit`: its memory is the parent's.
        guard let region = region(containing: range.start), region.executable.contains(range) else {
            throw .outsideReservation(.decommit, address: range.start, byteCount: range.byteCount)
        }
        try region.decommit(range)
    }

    /// Takes decommitted pages of one region back into use: trap-filled through the write path,
    /// then executable. Throws `.outsideReservation` for a range outside every region, and the
    /// region's error. Cost: a lock-free region lookup, the fill and the system calls.
    /// Thread-safe.
    public func commit(_ range: MemoryRange) throws(PasError) {
        guard let region = region(containing: range.start), region.executable.contains(range) else {
            throw .outsideReservation(.commit, address: range.start, byteCount: range.byteCount)
        }
        try region.commit(range, fill: commitFill)
    }
}
