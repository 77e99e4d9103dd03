import PasSystem
import Synchronization

/// Address → chunk metadata, as a two-level radix table keyed by the chunk number
/// (`address >> chunkShift`; chunks are aligned to their size).
///
/// Why this shape: a lookup is two dependent loads and no lock, whatever the number of
/// chunks, and the JIT heap's pointer → page path (every free and size query) stays short.
/// The top level covers a 48-bit address space and is reserved once (only touched pages
/// become resident); leaves (4096 chunks each) are mapped on first use. Entries hold the
/// address of the chunk's metadata block, or 0.
///
/// Thread-safety: `lookup` may run concurrently with anything; `insert` and `release` need
/// the owning directory's lock. Leaves and entries are published with release stores and
/// read with acquire loads, so a reader that sees an entry sees the metadata behind it.
@usableFromInline
struct BitfitPageMap {
    @usableFromInline static var addressBits: Int { 48 }
    @usableFromInline static var leafBits: Int { 12 }

    @usableFromInline let chunkShift: Int
    @usableFromInline let topBits: Int
    /// Invariant: `top` points at `1 << topBits` words of zeroed-or-published memory that live
    /// as long as the map; zero bits are a valid `Atomic<UInt>(0)`.
    @usableFromInline let top: UnsafeMutablePointer<Atomic<UInt>>
    let topRange: MemoryRange

    init(chunkShift: Int) throws(PasError) {
        self.chunkShift = chunkShift
        self.topBits = max(0, Self.addressBits - chunkShift - Self.leafBits)
        topRange = try MetadataPages.allocate(byteCount: (1 << topBits) * 8)
        top = topRange.pointer.bindMemory(to: Atomic<UInt>.self, capacity: 1 << topBits)
    }

    /// The metadata block of the chunk containing `address`, or nil. Lock-free.
    @inlinable @inline(__always)
    func lookup(_ address: UInt) -> UnsafeMutableRawPointer? {
        let chunk = address &>> UInt(chunkShift)
        let topIndex = chunk &>> UInt(Self.leafBits)
        guard topIndex < (1 as UInt) &<< UInt(topBits) else { return nil }
        let leaf = top[Int(topIndex)].load(ordering: .acquiring)
        guard leaf != 0 else { return nil }
        // Invariant: a published leaf holds 1 << leafBits atomics and is never unmapped while the map lives.
        let leafEntries = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: leaf).unsafelyUnwrapped
        let entry = leafEntries[Int(chunk & ((1 &<< UInt(Self.leafBits)) &- 1))].load(ordering: .acquiring)
        return UnsafeMutableRawPointer(bitPattern: entry)
    }

    /// Maps the leaf that will hold `chunkStart`'s entry, so that a later `insert` cannot fail.
    /// Returns true if it mapped a new leaf. Caller holds the directory lock.
    @discardableResult
    func prepare(_ chunkStart: UInt) throws(PasError) -> Bool {
        let chunk = chunkStart >> UInt(chunkShift)
        let topIndex = chunk >> UInt(Self.leafBits)
        guard topIndex < UInt(1) << UInt(topBits) else {
            throw .unsupported(
                .allocate,
                reason:
                    "chunk at 0x\(String(chunkStart, radix: 16)) lies above the \(Self.addressBits)-bit address space the bitfit page map covers"
            )
        }
        if top[Int(topIndex)].load(ordering: .relaxed) != 0 { return false }
        let leaf = try MetadataPages.allocate(byteCount: Self.leafBytes)
        top[Int(topIndex)].store(leaf.start, ordering: .releasing)
        return true
    }

    static var leafBytes: Int { MetadataPages.roundedSize((1 << leafBits) * 8) }

    /// Publishes `metadata` for the chunk starting at `chunkStart`. Requires a prior `prepare`.
    /// Caller holds the directory lock.
    func insert(_ chunkStart: UInt, metadata: UnsafeMutableRawPointer) {
        let chunk = chunkStart >> UInt(chunkShift)
        let leaf = top[Int(chunk >> UInt(Self.leafBits))].load(ordering: .relaxed)
        precondition(leaf != 0, "bitfit page map: insert without prepare for chunk 0x\(String(chunkStart, radix: 16))")
        let entries = UnsafeMutablePointer<Atomic<UInt>>(bitPattern: leaf)!
        entries[Int(chunk & ((1 << UInt(Self.leafBits)) - 1))]
            .store(UInt(bitPattern: metadata), ordering: .releasing)
    }

    /// Unmaps the leaves that hold `chunkStarts` and the top level. Only when no other
    /// thread can use the map.
    func release(chunkStarts: some Sequence<UInt>) {
        for start in chunkStarts {
            let topIndex = Int((start >> UInt(chunkShift)) >> UInt(Self.leafBits))
            let leaf = top[topIndex].exchange(0, ordering: .relaxed)
            if leaf != 0 { MetadataPages.release(MemoryRange(start: leaf, byteCount: Self.leafBytes)) }
        }
        MetadataPages.release(topRange)
    }
}
