import PasSystem
import Pas
import Synchronization

/// Executable memory for code a runtime generates: allocate, write, run, shrink and free
/// code blocks, with no allocator metadata in code memory.
///
/// Blocks up to `JITSmallBitfitConfig.maxObjectSize` come from a bitfit heap with small
/// granules, blocks up to `JITMediumBitfitConfig.maxObjectSize` from a bitfit heap with
/// larger pages, bigger ones from a large heap. All three draw chunks from the heap's code
/// regions and keep their bookkeeping in ordinary memory.
///
/// Writing goes through `withWritableBytes(of:_:)` or `copy(_:into:at:)`, which open write
/// access for exactly one block (the writable view, or an `mprotect` window in `.toggled`
/// mode), and flush the instruction cache afterwards.
///
/// Freed code traps in every state: while its page is committed it holds the fill pattern
/// (written under the sub-heap's lock, after the free was validated, so a losing double free
/// writes nothing); a page is inaccessible while it is decommitted or was never committed,
/// and is trap-filled before it becomes executable again (see `CodeRegion`).
///
/// In `.toggled` regions every block has whole pages to itself (sizes and alignment round up
/// to the system page), so a write scope, which makes the block's pages non-executable, never
/// stops another thread running another block.
///
/// Thread-safety: every method may be called from any thread. Allocation and freeing take
/// the lock of the one sub-heap involved; writes take no lock except in `.toggled` mode.
public final class JITHeap: @unchecked Sendable {
    /// The protection mode of the heap's own region (the first mode in the options that the
    /// system allowed).
    public let protectionMode: ProtectionMode
    /// Why each mode tried before `protectionMode` was refused (empty if the first worked).
    public let refusedModes: [(ProtectionMode, PasError)]
    /// What freed code is overwritten with.
    public let fillPattern: FillPattern

    let chunks: CodeChunkSource
    let small: BitfitHeap<JITSmallBitfitConfig, CodeChunkSource>
    let medium: BitfitHeap<JITMediumBitfitConfig, CodeChunkSource>
    let large: LargeHeap<CodeChunkSource>

    /// Creates a heap, reserving its code region as `options` say.
    /// Throws `.unsupported(.reserve, reason:)` naming every refused mode when none works.
    /// A region the address space cannot hold is not a refused mode: it is
    /// `.outOfMemory(.reserve, requested:)` at once (no other mode is tried, it would not fit
    /// either), unless `options.minimumRegionSize` lets the heap try halved sizes first.
    /// Cost: the region's reservation (a memory file and two mappings in `.dualMapped` mode,
    /// one mapping otherwise) and three sub-heaps' metadata; nothing is committed yet.
    public init(options: Options = Options()) throws(PasError) {
        let chunks = CodeChunkSource(commitFill: FillPattern.trap.word!)
        var refused: [(ProtectionMode, PasError)] = []
        var chosen: ProtectionMode? = nil
        if options.reservesRegion {
            guard options.regionSize > 0 else { throw .invalidSize(.reserve, options.regionSize) }
            guard !options.protectionModes.isEmpty else {
                throw .unsupported(.reserve, reason: "no protection mode allowed")
            }
            let minimum = options.minimumRegionSize ?? options.regionSize
            guard minimum > 0, minimum <= options.regionSize else { throw .invalidSize(.reserve, minimum) }
            modes: for mode in options.protectionModes {
                var size = options.regionSize
                while true {
                    do {
                        let region = try CodeRegion.reserve(byteCount: size, mode: mode)
                        try chunks.add(region)
                        chosen = mode
                        break modes
                    } catch {
                        guard case .outOfMemory = error else {
                            refused.append((mode, error))
                            continue modes
                        }
                        let half = (size / 2) & ~(CodeRegion.regionAlignment - 1)
                        guard size > minimum else { throw .outOfMemory(.reserve, requested: size) }
                        size = max(half, minimum)
                    }
                }
            }
            guard let chosen else {
                let reason = refused.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
                throw .unsupported(.reserve, reason: reason)
            }
            protectionMode = chosen
        } else {
            protectionMode = options.protectionModes.first ?? .dualMapped
        }
        refusedModes = refused
        fillPattern = options.fillPattern
        self.chunks = chunks
        small = BitfitHeap(chunks: chunks, pageSharing: options.pageSharing, scavengeDelay: options.scavengeDelay)
        medium = BitfitHeap(chunks: chunks, pageSharing: options.pageSharing, scavengeDelay: options.scavengeDelay)
        large = LargeHeap(
            chunks: chunks, granule: JITMediumBitfitConfig.granule, chunkSize: 2 << 20,
            pageSharing: options.pageSharing, scavengeDelay: options.scavengeDelay)
    }

    /// Gives the heap executable memory the runtime reserved itself; allocation draws on it
    /// once earlier regions are full. `executable` must be page aligned; `writable` is the
    /// address of a writable alias of the same memory (dual mapping), or nil when
    /// `executable` is itself writable (`.rwx`) or may be switched with `mprotect` (`.toggled`).
    /// The heap never unmaps this memory. The sub-heaps carve it into chunks aligned to their
    /// own size (up to 2 MiB), so a range aligned to 2 MiB loses nothing to alignment.
    ///
    /// The heap takes over the protection of `executable`: it makes the whole range
    /// inaccessible at once, and makes pages executable again (read + execute, or read +
    /// write + execute in `.rwx` mode) only when it commits them, after filling them with traps
    /// through the write path; decommitted pages become inaccessible again.
    /// Throws `.unusableMemory(.reserve, …)` if `executable` (or the writable alias) is not
    /// mapped in full, overlaps the calling thread's stack or `[stack]`, or lies in a mapping
    /// that is neither anonymous memory nor a memory file (`/proc/self/maps` is read to tell).
    /// Cost: a read of `/proc/self/maps`, an `mprotect` of the range and the chunk source's
    /// lock. Thread-safe.
    public func addFreshMemory(
        executable: MemoryRange, writable: UnsafeMutableRawPointer? = nil,
        mode: ProtectionMode? = nil
    ) throws(PasError) {
        let page = SystemInfo.pageSize
        guard executable.byteCount > 0, executable.byteCount % page == 0 else {
            throw .invalidSize(.reserve, executable.byteCount)
        }
        guard Alignment.isAligned(executable.start, to: page), executable.start != 0 else {
            throw .misaligned(.reserve, address: executable.start, alignment: page)
        }
        let chosenMode: ProtectionMode
        var offset: UInt = 0
        if let writable {
            guard Alignment.isAligned(UInt(bitPattern: writable), to: page) else {
                throw .misaligned(.reserve, address: UInt(bitPattern: writable), alignment: page)
            }
            chosenMode = .dualMapped
            offset = UInt(bitPattern: writable) &- executable.start
        } else {
            chosenMode = mode == .toggled ? .toggled : .rwx
        }
        // Slow path: reads /proc/self/maps.
        try ProcessMappings.checkUsableAsCode(executable, .reserve)
        if let writable {
            try ProcessMappings.checkUsableAsCode(MemoryRange(writable, byteCount: executable.byteCount), .reserve)
        }
        let region = CodeRegion(
            mode: chosenMode, executable: executable, writeOffset: offset,
            mapping: nil, ownsMapping: false)
        // Nothing of it is committed yet: inaccessible until the allocators take it into use.
        try chunks.add(region) { () throws(PasError) in try region.makeUncommitted() }
    }

    // MARK: Allocation

    /// Allocates a code block of at least `size` bytes whose address is a multiple of
    /// `alignment` (a power of two). The block's bytes are unspecified (zero or the fill
    /// pattern) until written. Cost: one lock round trip on the bitfit sub-heap that serves
    /// small and medium sizes; two on the large heap (the allocation, then the size query that
    /// tells the block's usable size), three if the block is given back because it lies in a
    /// region detached by fork, and one more for each wait behind a decommit pass of the
    /// pages it would take.
    public func allocate(size: Int, alignment: Int = 16) throws(PasError) -> CodeBlock {
        try allocate(size: size, alignment: alignment) { _, _ throws(PasError) in }
    }

    /// Allocates a block for `bytes`, copies them in through the write path and flushes the
    /// instruction cache: the way to publish a finished function. Cost: for small and medium
    /// blocks one lock round trip, with the copy made while the bitfit sub-heap's lock is held
    /// (so the block is never visible half-written to this heap's other operations); for
    /// large blocks the two or three round trips of `allocate(size:alignment:)`, with the copy
    /// made after them, outside the lock.
    public func install(_ bytes: UnsafeRawBufferPointer, alignment: Int = 16) throws(PasError) -> CodeBlock {
        guard let source = bytes.baseAddress, bytes.count > 0 else { throw .invalidSize(.allocate, bytes.count) }
        return try allocate(size: bytes.count, alignment: alignment) { p, _ throws(PasError) in
            try self.write(UInt(bitPattern: p), byteCount: bytes.count) { $0.copyMemory(from: source, byteCount: bytes.count) }
        }
    }

    /// Allocates a block for `bytes` and copies them in (see `install(_:alignment:)`, whose
    /// cost it has).
    public func install(_ bytes: [UInt8], alignment: Int = 16) throws(PasError) -> CodeBlock {
        let result = bytes.withUnsafeBytes { (b) -> Result<CodeBlock, PasError> in
            do throws(PasError) { return .success(try install(b, alignment: alignment)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @inline(__always)
    private func allocate(
        size: Int, alignment: Int,
        initialize: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) -> CodeBlock {
        guard size > 0, size <= Int.max / 2 else { throw .invalidSize(.allocate, size) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.allocate, alignment) }
        var size = size, alignment = alignment
        if chunks.hasToggledRegion.load(ordering: .relaxed) {
            // Toggled mode: a write flips whole pages to RW, so no two blocks share a page.
            try refuseInsideWriteScope(.allocate)
            let page = SystemInfo.pageSize
            size = Alignment.roundUp(size, to: page)!
            alignment = max(alignment, page)
        }
        // After a fork, a block in a region the child shares with its parent is given back
        // (without a write) and the allocation fails: `checkAttached` runs first in each step.
        let p: UnsafeMutableRawPointer
        if size <= JITSmallBitfitConfig.maxObjectSize && alignment <= JITSmallBitfitConfig.pageSize {
            p = try small.allocate(size: size, alignment: max(alignment, JITSmallBitfitConfig.granule)) { q, n throws(PasError) in
                try self.chunks.checkAttached(UInt(bitPattern: q), .allocate)
                try initialize(q, n)
            }
        } else if size <= JITMediumBitfitConfig.maxObjectSize && alignment <= JITMediumBitfitConfig.pageSize {
            p = try medium.allocate(size: size, alignment: max(alignment, JITMediumBitfitConfig.granule)) {
                q, n throws(PasError) in
                try self.chunks.checkAttached(UInt(bitPattern: q), .allocate)
                try initialize(q, n)
            }
        } else {
            p = try large.allocate(size: size, alignment: max(alignment, JITMediumBitfitConfig.granule))
            do {
                try chunks.checkAttached(UInt(bitPattern: p), .allocate)
                try initialize(p, try large.size(of: p))
            } catch {
                try? large.deallocate(p)
                throw error
            }
        }
        return CodeBlock(address: UInt(bitPattern: p))
    }

    /// Frees a block. Its bytes are overwritten with the fill pattern first (under the
    /// sub-heap's lock, once the block is known to be live), so a stale call traps.
    /// Throws `.unknownPointer` for an address that is not a live block's start and
    /// `.doubleFree` for a block already freed (when the heap can tell).
    /// Cost: one lock round trip plus the fill (the lock is held during the fill); two for a
    /// large block (finding the block's sub-heap asks the large heap under its lock).
    public func deallocate(_ block: CodeBlock) throws(PasError) {
        guard let p = UnsafeMutableRawPointer(bitPattern: block.address) else {
            throw .unknownPointer(.deallocate, address: block.address)
        }
        if chunks.hasToggledRegion.load(ordering: .relaxed) { try refuseInsideWriteScope(.deallocate) }
        // Every sub-heap fills under its lock, after validating the block and before the
        // memory can be allocated again: a losing double free touches nothing.
        try chunks.checkAttached(block.address, .deallocate)
        switch owner(of: p) {
        case .small: try small.deallocate(p) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
        case .medium: try medium.deallocate(p) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
        case .large: try large.deallocate(p) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
        case nil: throw .unknownPointer(.deallocate, address: block.address)
        }
    }

    /// Shrinks a block in place to at least `newSize` bytes; the freed tail is filled and
    /// returns to the heap. Runtimes call it after linking, when the final size is known.
    /// Throws `.invalidSize(.shrink, newSize)` for a size of zero or above the block's size.
    /// In `.toggled` regions the block keeps whole pages (`newSize` rounds up to the page).
    /// Cost: one lock round trip plus the fill of the tail; two for a large block.
    public func shrink(_ block: CodeBlock, to newSize: Int) throws(PasError) {
        guard let p = UnsafeMutableRawPointer(bitPattern: block.address) else {
            throw .unknownPointer(.shrink, address: block.address)
        }
        try chunks.checkAttached(block.address, .shrink)
        var kept = newSize
        if chunks.hasToggledRegion.load(ordering: .relaxed) {
            try refuseInsideWriteScope(.shrink)
            if newSize > 0, chunks.isToggled(block.address) {
                kept = Alignment.roundUp(newSize, to: SystemInfo.pageSize) ?? newSize
            }
        }
        do throws(PasError) {
            // The tail is filled under the sub-heap's lock, after validation (as for deallocate).
            switch owner(of: p) {
            case .small:
                _ = try small.shrink(p, to: kept) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
            case .medium:
                _ = try medium.shrink(p, to: kept) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
            case .large:
                try large.shrink(p, to: kept) { q, n throws(PasError) in try self.fill(UInt(bitPattern: q), byteCount: n) }
            case nil: throw .unknownPointer(.shrink, address: block.address)
            }
        } catch .invalidSize(.shrink, _) {
            throw .invalidSize(.shrink, newSize)
        }
    }

    /// The usable size of a live block (its requested size rounded up to the granule).
    /// Throws `.unknownPointer` for an address that is not a live block's start (`.doubleFree`
    /// for a freed one, when the heap can tell). Cost: one lock round trip; two for a large
    /// block. Thread-safe.
    public func size(of block: CodeBlock) throws(PasError) -> Int {
        guard let p = UnsafeRawPointer(bitPattern: block.address) else {
            throw .unknownPointer(.sizeQuery, address: block.address)
        }
        if chunks.hasToggledRegion.load(ordering: .relaxed) { try refuseInsideWriteScope(.sizeQuery) }
        switch owner(of: p) {
        case .small: return try small.size(of: p)
        case .medium: return try medium.size(of: p)
        case .large: return try large.size(of: p)
        case nil: throw .unknownPointer(.sizeQuery, address: block.address)
        }
    }

    /// `size(of:)` for a step of `operation`: a bad block is reported as that operation's error.
    func blockSize(_ block: CodeBlock, for operation: PasOperation) throws(PasError) -> Int {
        do { return try size(of: block) } catch { throw error.reported(as: operation) }
    }

    /// True if `pc` lies in this heap's code memory. Lock-free; a few comparisons.
    @inline(__always)
    public func contains(_ pc: UInt) -> Bool { chunks.contains(pc) }

    // MARK: Writing

    /// Runs `body` with a writable buffer covering exactly `block`, then closes write access
    /// and flushes the instruction cache for the block. In `.toggled` mode the block's pages
    /// are not executable while `body` runs, and `body` must not call into the heap at all:
    /// such calls throw `.reentrantWrite` (they would otherwise wait forever for this scope,
    /// or deadlock with another thread's fill). The caller must not free the block meanwhile.
    ///
    /// Throws the heap's `PasError` (`.unknownPointer` for a block that is not live, the
    /// `mprotect` failure of a `.toggled` scope) or, unchanged, the `PasError` `body` throws;
    /// a body that throws another error type gets the overload that throws `WriteScopeError`.
    /// Write access is closed and the cache flushed whether or not `body` throws.
    /// Cost: a size query (one lock round trip, two for a large block), then no lock except
    /// the region's toggle lock in `.toggled` mode. Thread-safe.
    public func withWritableBytes<R>(
        of block: CodeBlock,
        _ body: (UnsafeMutableRawBufferPointer) throws(PasError) -> R
    ) throws(PasError) -> R {
        try writeScope(of: block, body).get()
    }

    /// `withWritableBytes(of:_:)` for a `body` that throws its own error type: a failure of
    /// the heap is `WriteScopeError.heap`, an error `body` throws is `WriteScopeError.body`.
    /// Cost and thread-safety as for the `PasError` overload.
    public func withWritableBytes<R, E: Error>(
        of block: CodeBlock,
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(WriteScopeError<E>) -> R {
        let outcome: Result<R, E>
        do { outcome = try writeScope(of: block, body) } catch { throw .heap(error) }
        do { return try outcome.get() } catch { throw .body(error) }
    }

    /// Runs `body` in a write scope covering `block`: the heap's failures are thrown, `body`'s
    /// outcome is returned.
    @inline(__always)
    private func writeScope<R, E: Error>(
        of block: CodeBlock,
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(PasError) -> Result<R, E> {
        let size = try blockSize(block, for: .write)
        var outcome: Result<R, E>? = nil
        try write(block.address, byteCount: size) { p in
            do throws(E) { outcome = .success(try body(UnsafeMutableRawBufferPointer(start: p, count: size))) } catch {
                outcome = .failure(error)
            }
        }
        // Invariant: `write` runs its body exactly once when it returns without throwing.
        return outcome.unsafelyUnwrapped
    }

    /// Copies `bytes` into `block` at `offset` and flushes the instruction cache.
    /// Throws `.outOfBounds(.write, ...)` if the bytes would reach past the block.
    /// Cost: a size query (one lock round trip, two for a large block) and the copy; no lock
    /// for the copy except in `.toggled` mode. Thread-safe.
    public func copy(_ bytes: UnsafeRawBufferPointer, into block: CodeBlock, at offset: Int = 0) throws(PasError) {
        let size = try blockSize(block, for: .write)
        guard offset >= 0, bytes.count <= size, offset <= size - bytes.count else {
            throw .outOfBounds(.write, address: block.address &+ UInt(bitPattern: offset), byteCount: bytes.count)
        }
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        try write(block.address + UInt(offset), byteCount: bytes.count) { $0.copyMemory(from: source, byteCount: bytes.count) }
    }

    /// Copies `bytes` into `block` at `offset` (see `copy(_:into:at:)` for a buffer).
    public func copy(_ bytes: [UInt8], into block: CodeBlock, at offset: Int = 0) throws(PasError) {
        // Invariant: the buffer lives for the duration of the closure; copy does not keep it.
        let result = bytes.withUnsafeBytes { (b) -> PasError? in
            do throws(PasError) { try copy(b, into: block, at: offset); return nil } catch { return error }
        }
        if let result { throw result }
    }

    // MARK: Memory

    /// Returns to the system the physical memory of every code page that has held no live
    /// block for at least `olderThan` (`.zero`: every such page, now). Returns the bytes
    /// decommitted. Without this call, the page sharing pool (`Options.pageSharing`) returns
    /// pages that stay empty for longer than its delay.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        if chunks.hasToggledRegion.load(ordering: .relaxed) { try refuseInsideWriteScope(.decommit) }
        return try small.decommitEmptyPages(olderThan: age) + medium.decommitEmptyPages(olderThan: age)
            + large.decommitEmptyPages(olderThan: age)
    }

    /// A snapshot of the heap's memory use. Cost: each sub-heap's lock in turn, the chunk
    /// source's lock, and a size query of each owned code file. Thread-safe.
    public var statistics: Statistics {
        let s = small.statistics, m = medium.statistics, l = large.statistics
        let regions = chunks.allRegions
        var resident: Int? = nil
        for r in regions where r.ownsMapping {
            if let m = r.mapping, let bytes = try? m.file.allocatedBytes() { resident = (resident ?? 0) + bytes }
        }
        return Statistics(
            protectionMode: protectionMode,
            reservedBytes: regions.reduce(0) { $0 + $1.executable.byteCount },
            usedAddressSpace: chunks.usedBytes,
            liveBytes: s.liveBytes + m.liveBytes + l.liveBytes,
            blockCount: s.objectCount + m.objectCount + l.objectCount,
            decommittedBytes: s.decommittedBytes + m.decommittedBytes + l.decommittedBytes,
            residentCodeBytes: resident,
            committedBytes: s.committedBytes + m.committedBytes + l.committedBytes,
            freeBytes: s.freeBytes + m.freeBytes + l.freeBytes)
    }

    /// Checks every invariant of the three sub-heaps; throws `.corrupted` naming the first
    /// broken one. Cost: a walk of every page and object, under each sub-heap's lock in turn.
    public func verify() throws(PasError) {
        for problem in small.verify() + medium.verify() {
            throw .corrupted(.verify, address: problem.pageAddress, reason: problem.description)
        }
        try large.verify()
    }

    // MARK: Internals

    enum Owner { case small, medium, large }

    @inline(__always)
    func owner(of p: UnsafeRawPointer) -> Owner? {
        if small.owns(p) { return .small }
        if medium.owns(p) { return .medium }
        if large.contains(UInt(bitPattern: p)) { return .large }
        return nil
    }

    /// Runs `body` with the writable alias of `address ..< address + byteCount` (inside one
    /// region), opening and closing write access as the region's mode needs, then flushes the
    /// instruction cache. Lock-free except in `.toggled` mode.
    @inline(__always)
    func write(_ address: UInt, byteCount: Int, _ body: (UnsafeMutableRawPointer) -> Void) throws(PasError) {
        guard let index = chunks.recordIndex(containing: address) else { throw .unknownPointer(.write, address: address) }
        let record = chunks.record(index)
        if record.detached { throw CodeRegion.detachedError(.write, region: record.region.takeUnretainedValue()) }
        guard UInt(byteCount) <= record.end &- address else {
            throw .outOfBounds(.write, address: address, byteCount: byteCount)
        }
        let range = MemoryRange(start: address, byteCount: byteCount)
        if record.toggled {
            let region = record.region.takeUnretainedValue()
            try region.beginWrite(range)
            // Invariant: the pages of `range` are RW until endWrite.
            body(UnsafeMutableRawPointer(bitPattern: address)!)
            try region.endWrite(range)
            return
        }
        // Invariant: the alias covers the same bytes and is always writable (dual or RWX).
        body(UnsafeMutableRawPointer(bitPattern: address &+ record.writeOffset)!)
        InstructionCache.flush(range)
    }

    /// Overwrites freed code with the fill pattern.
    @inline(__always)
    func fill(_ address: UInt, byteCount: Int) throws(PasError) {
        guard let word = fillPattern.word, byteCount > 0 else { return }
        try write(address, byteCount: byteCount) { base in CodeRegion.store(word, at: base, byteCount: byteCount) }
    }

    /// Throws `.reentrantWrite(op, …)` if the calling thread holds a `.toggled` write scope
    /// open (it is inside a `withWritableBytes` body). Called only once a toggled region exists.
    @inline(never)
    func refuseInsideWriteScope(_ op: PasOperation) throws(PasError) {
        if let open = chunks.openWriteScopeOfCurrentThread() { throw .reentrantWrite(op, address: open) }
    }
}
