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
    public init(options: Options = Options()) throws(PasError) {
        let chunks = CodeChunkSource()
        var refused: [(ProtectionMode, PasError)] = []
        var chosen: ProtectionMode? = nil
        if options.reservesRegion {
            guard options.regionSize > 0 else { throw .invalidSize(.reserve, options.regionSize) }
            guard !options.protectionModes.isEmpty else {
                throw .unsupported(.reserve, reason: "no protection mode allowed")
            }
            for mode in options.protectionModes {
                do {
                    let region = try CodeRegion.reserve(byteCount: options.regionSize, mode: mode)
                    try chunks.add(region)
                    chosen = mode
                    break
                } catch {
                    refused.append((mode, error))
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
        large = LargeHeap(chunks: chunks, granule: JITMediumBitfitConfig.granule, chunkSize: 2 << 20,
                          pageSharing: options.pageSharing, scavengeDelay: options.scavengeDelay)
    }

    /// Gives the heap executable memory the runtime reserved itself; allocation draws on it
    /// once earlier regions are full. `executable` must be page aligned; `writable` is the
    /// address of a writable alias of the same memory (dual mapping), or nil when
    /// `executable` is itself writable (`.rwx`) or may be switched with `mprotect` (`.toggled`).
    /// The heap never unmaps this memory.
    public func addFreshMemory(executable: MemoryRange, writable: UnsafeMutableRawPointer? = nil,
                               mode: ProtectionMode? = nil) throws(PasError) {
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
        try chunks.add(CodeRegion(mode: chosenMode, executable: executable, writeOffset: offset,
                                  mapping: nil, ownsMapping: false))
    }

    // MARK: Allocation

    /// Allocates a code block of at least `size` bytes whose address is a multiple of
    /// `alignment` (a power of two). The block's bytes are unspecified (zero or the fill
    /// pattern) until written.
    public func allocate(size: Int, alignment: Int = 16) throws(PasError) -> CodeBlock {
        guard size > 0, size <= Int.max / 2 else { throw .invalidSize(.allocate, size) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.allocate, alignment) }
        let p: UnsafeMutableRawPointer
        if size <= JITSmallBitfitConfig.maxObjectSize && alignment <= JITSmallBitfitConfig.pageSize {
            p = try small.allocate(size: size, alignment: max(alignment, JITSmallBitfitConfig.granule))
        } else if size <= JITMediumBitfitConfig.maxObjectSize && alignment <= JITMediumBitfitConfig.pageSize {
            p = try medium.allocate(size: size, alignment: max(alignment, JITMediumBitfitConfig.granule))
        } else {
            p = try large.allocate(size: size, alignment: max(alignment, JITMediumBitfitConfig.granule))
        }
        return CodeBlock(address: UInt(bitPattern: p))
    }

    /// Frees a block. Its bytes are overwritten with the fill pattern first, so a stale call
    /// traps. Throws `.unknownPointer` for an address that is not a live block's start and
    /// `.doubleFree` for a block already freed (when the heap can tell).
    public func deallocate(_ block: CodeBlock) throws(PasError) {
        let p = try mutablePointer(block, .deallocate)
        let size = try size(of: block)
        try fill(block.address, byteCount: size)
        switch owner(of: p) {
        case .small: try small.deallocate(p)
        case .medium: try medium.deallocate(p)
        case .large: try large.deallocate(p)
        case nil: throw .unknownPointer(.deallocate, address: block.address)
        }
    }

    /// Shrinks a block in place to at least `newSize` bytes; the freed tail returns to the
    /// heap (after being filled). Runtimes call it after linking, when the final size is known.
    public func shrink(_ block: CodeBlock, to newSize: Int) throws(PasError) {
        let p = try mutablePointer(block, .shrink)
        let old = try size(of: block)
        guard newSize > 0, newSize <= old else { throw .invalidSize(.shrink, newSize) }
        guard let owner = owner(of: p) else { throw .unknownPointer(.shrink, address: block.address) }
        // Fill the tail before it is freed: once freed, another thread may allocate it.
        let granule = owner == .small ? JITSmallBitfitConfig.granule : JITMediumBitfitConfig.granule
        let kept = Alignment.roundUp(newSize, to: granule) ?? old
        if kept < old { try fill(block.address + UInt(kept), byteCount: old - kept) }
        switch owner {
        case .small: try small.shrink(p, to: newSize)
        case .medium: try medium.shrink(p, to: newSize)
        case .large: try large.shrink(p, to: newSize)
        }
    }

    /// The usable size of a live block (its requested size rounded up to the granule).
    public func size(of block: CodeBlock) throws(PasError) -> Int {
        guard let p = UnsafeRawPointer(bitPattern: block.address) else {
            throw .unknownPointer(.sizeQuery, address: block.address)
        }
        switch owner(of: p) {
        case .small: return try small.size(of: p)
        case .medium: return try medium.size(of: p)
        case .large: return try large.size(of: p)
        case nil: throw .unknownPointer(.sizeQuery, address: block.address)
        }
    }

    /// True if `pc` lies in this heap's code memory. Lock-free; a few comparisons.
    @inline(__always)
    public func contains(_ pc: UInt) -> Bool { chunks.contains(pc) }

    // MARK: Writing

    /// Runs `body` with a writable buffer covering exactly `block`, then closes write access
    /// and flushes the instruction cache for the block. In `.toggled` mode the block's pages
    /// are not executable while `body` runs.
    public func withWritableBytes<R>(of block: CodeBlock, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        let size = try size(of: block)
        return try withWritable(block.address, byteCount: size, operation: .write, body)
    }

    /// Copies `bytes` into `block` at `offset` and flushes the instruction cache.
    /// Throws `.outOfBounds(.write, ...)` if the bytes would reach past the block.
    public func copy(_ bytes: UnsafeRawBufferPointer, into block: CodeBlock, at offset: Int = 0) throws(PasError) {
        let size = try size(of: block)
        guard offset >= 0, bytes.count <= size, offset <= size - bytes.count else {
            throw .outOfBounds(.write, address: block.address &+ UInt(bitPattern: offset), byteCount: bytes.count)
        }
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        do {
            try withWritable(block.address + UInt(offset), byteCount: bytes.count, operation: .write) { buffer in
                buffer.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
            }
        } catch let error as PasError {
            throw error
        } catch {
            preconditionFailure("unreachable: the copy body does not throw")
        }
    }

    /// Copies `bytes` into `block` at `offset`.
    public func copy(_ bytes: [UInt8], into block: CodeBlock, at offset: Int = 0) throws(PasError) {
        // Invariant: the buffer lives for the duration of the closure; copy does not keep it.
        let result = bytes.withUnsafeBytes { (b) -> PasError? in
            do throws(PasError) { try copy(b, into: block, at: offset); return nil } catch { return error }
        }
        if let result { throw result }
    }

    // MARK: Memory

    /// Returns the physical memory of every code page that holds no live block to the
    /// system now. Returns the bytes decommitted. Without this call, the page sharing pool
    /// (`Options.pageSharing`) returns pages that stay empty for longer than its delay.
    @discardableResult
    public func scavenge() throws(PasError) -> Int {
        try small.decommitEmptyPages() + medium.decommitEmptyPages() + large.decommitFreePages()
    }

    /// A snapshot of the heap's memory use.
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
            residentCodeBytes: resident)
    }

    /// Checks every invariant of the three sub-heaps.
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

    private func mutablePointer(_ block: CodeBlock, _ op: PasOperation) throws(PasError) -> UnsafeMutableRawPointer {
        guard let p = UnsafeMutableRawPointer(bitPattern: block.address) else { throw .unknownPointer(op, address: 0) }
        return p
    }

    /// Opens write access to `address ..< address + byteCount` (inside one region), runs body.
    private func withWritable<R>(_ address: UInt, byteCount: Int, operation: PasOperation,
                                 _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        guard let region = chunks.region(containing: address) else {
            throw PasError.unknownPointer(operation, address: address)
        }
        let range = MemoryRange(start: address, byteCount: byteCount)
        guard region.executable.contains(range) else {
            throw PasError.outOfBounds(operation, address: address, byteCount: byteCount)
        }
        try region.beginWrite(range)
        // Invariant: the alias covers the same bytes as `range` and is writable until endWrite.
        let alias = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address &+ region.writeOffset),
                                                  count: byteCount)
        let result: R
        do {
            result = try body(alias)
        } catch {
            try region.endWrite(range)
            throw error
        }
        try region.endWrite(range)
        return result
    }

    /// Overwrites freed code with the fill pattern.
    private func fill(_ address: UInt, byteCount: Int) throws(PasError) {
        guard let word = fillPattern.word, byteCount > 0 else { return }
        do {
            try withWritable(address, byteCount: byteCount, operation: .deallocate) { buffer in
                let base = buffer.baseAddress!
                var i = 0
                while i + 4 <= byteCount { base.storeBytes(of: word, toByteOffset: i, as: UInt32.self); i += 4 }
                while i < byteCount { base.storeBytes(of: UInt8(truncatingIfNeeded: word), toByteOffset: i, as: UInt8.self); i += 1 }
            }
        } catch let error as PasError {
            throw error
        } catch {
            preconditionFailure("unreachable: the fill body does not throw")
        }
    }
}
