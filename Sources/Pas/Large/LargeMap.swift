import PasSystem

/// One live large object: its start, its size and its type tag.
struct LargeMapEntry {
    /// Object start; 0 marks an empty slot.
    var start: UInt
    var size: UInt
    var type: UInt32
}

/// The large map: an open-addressing hash table (linear probing, backward-shift deletion)
/// from object start to its size and type, in pages from `MetadataPages`.
///
/// Kept at most half full; grows by doubling. Callers `reserve` before inserting so that an
/// insertion cannot fail. Not thread-safe: the owning heap's lock protects it.
struct LargeMap {
    /// Invariant: points at `capacity` entries inside `region`, which this map owns;
    /// `capacity` is a power of two.
    private var entries: UnsafeMutablePointer<LargeMapEntry>
    private var region: MemoryRange
    private(set) var capacity: Int
    private(set) var count = 0

    init() throws(PasError) {
        region = try MetadataPages.allocate(byteCount: SystemInfo.pageSize)
        capacity = Self.powerOfTwo(atMost: region.byteCount / MemoryLayout<LargeMapEntry>.stride)
        entries = region.pointer.bindMemory(to: LargeMapEntry.self, capacity: capacity)
    }

    /// Unmaps the table. The map must not be used afterwards.
    func release() { MetadataPages.release(region) }

    /// Bytes of metadata pages held.
    var metadataBytes: Int { region.byteCount }

    private static func powerOfTwo(atMost n: Int) -> Int {
        var p = 1
        while p * 2 <= n { p *= 2 }
        return p
    }

    @inline(__always) private func home(_ key: UInt) -> Int {
        // Fibonacci hashing: the top log2(capacity) bits of the product mix every key bit.
        Int(truncatingIfNeeded: (UInt64(key) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - capacity.trailingZeroBitCount))
    }

    /// Ensures `extra` more entries can be inserted without growing. O(capacity) when it grows.
    mutating func reserve(_ extra: Int) throws(PasError) {
        if (count + extra) * 2 <= capacity { return }
        var newCapacity = capacity * 2
        while (count + extra) * 2 > newCapacity { newCapacity *= 2 }
        let newRegion = try MetadataPages.allocate(byteCount: newCapacity * MemoryLayout<LargeMapEntry>.stride)
        let old = (entries, capacity, region)
        capacity = newCapacity
        // Invariant: fresh zeroed pages: every slot reads as empty (start 0).
        entries = newRegion.pointer.bindMemory(to: LargeMapEntry.self, capacity: newCapacity)
        region = newRegion
        count = 0
        for i in 0 ..< old.1 where old.0[i].start != 0 { insert(old.0[i]) }
        MetadataPages.release(old.2)
    }

    /// The slot holding `start`, or nil. Expected O(1).
    func find(_ start: UInt) -> Int? {
        guard start != 0 else { return nil }
        var i = home(start)
        while true {
            let k = entries[i].start
            if k == start { return i }
            if k == 0 { return nil }
            i = (i + 1) & (capacity - 1)
        }
    }

    /// The entry in slot `i` (from `find`).
    @inline(__always) subscript(slot i: Int) -> LargeMapEntry {
        get { entries[i] }
        set { entries[i] = newValue }
    }

    /// Adds an entry whose start is not present. Precondition: room was reserved.
    mutating func insert(_ entry: LargeMapEntry) {
        precondition(entry.start != 0 && (count + 1) * 2 <= capacity, "LargeMap: insert without reserve")
        var i = home(entry.start)
        while entries[i].start != 0 {
            precondition(entries[i].start != entry.start, "LargeMap: duplicate start")
            i = (i + 1) & (capacity - 1)
        }
        entries[i] = entry
        count += 1
    }

    /// Removes the entry in slot `i`, shifting later entries of its probe run back.
    mutating func remove(slot: Int) {
        let mask = capacity - 1
        var hole = slot
        var j = (slot + 1) & mask
        while entries[j].start != 0 {
            let h = home(entries[j].start)
            // Entry j may fill the hole unless its home lies cyclically in (hole, j].
            let homeAfterHole = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !homeAfterHole {
                entries[hole] = entries[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        entries[hole] = LargeMapEntry(start: 0, size: 0, type: 0)
        count -= 1
    }

    /// Calls `body` for every entry (for verification and statistics; not on a fast path).
    func forEachEntry<E: Error>(_ body: (LargeMapEntry) throws(E) -> Void) throws(E) {
        for i in 0 ..< capacity where entries[i].start != 0 { try body(entries[i]) }
    }
}
