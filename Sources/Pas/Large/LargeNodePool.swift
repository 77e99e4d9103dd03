import PasSystem

/// One node of a large-heap treap: a range `start ..< end` with its key `(type, start)`.
///
/// The same node shape serves the free-range tree (typed, size-augmented), the set of
/// decommitted page spans and the set of chunk spans (both untyped).
struct LargeNode {
    var start: UInt
    var end: UInt
    /// Largest `end - start` in the subtree rooted here (kept by `LargeTreap.update`).
    var maxSize: UInt
    /// The heap's free epoch when this range last became free (free ranges only).
    var stamp: UInt64
    var type: UInt32
    /// Treap priority: a parent's priority is at least its children's.
    var priority: UInt32
    /// Child indices; 0 means none. In the pool's free list, `left` links free nodes.
    var left: UInt32
    var right: UInt32

    @inline(__always) var size: UInt { end &- start }
}

/// A pool of `LargeNode`s addressed by 32-bit index, in pages from `MetadataPages`.
///
/// Index 0 is reserved for "no node". The pool grows by doubling into fresh pages (indices
/// stay valid; the base pointer changes, so take `treap` again after `reserve`).
/// Callers reserve spare nodes before a mutation so that the mutation itself cannot fail.
/// Not thread-safe: the owning heap's lock protects it.
struct LargeNodePool {
    /// Invariant: `nodes` points at `capacity` nodes inside `region`, which this pool owns.
    private(set) var nodes: UnsafeMutablePointer<LargeNode>
    private var region: MemoryRange
    private(set) var capacity: Int
    /// Slots `1 ..< highWater` have been handed out at least once.
    private var highWater = 1
    private var freeHead: UInt32 = 0
    private var freeCount = 0
    /// Nodes currently in use.
    private(set) var liveCount = 0
    /// State of the xorshift generator that draws priorities.
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    init() throws(PasError) {
        let bytes = 4 * SystemInfo.pageSize
        region = try MetadataPages.allocate(byteCount: bytes)
        capacity = region.byteCount / MemoryLayout<LargeNode>.stride
        // Invariant: fresh read-write pages, suitably aligned for LargeNode.
        nodes = region.pointer.bindMemory(to: LargeNode.self, capacity: capacity)
    }

    /// Unmaps the pool. The pool must not be used afterwards.
    func release() { MetadataPages.release(region) }

    /// Nodes that `allocate` can hand out without growing.
    var spare: Int { capacity - highWater + freeCount }

    /// Bytes of metadata pages held.
    var metadataBytes: Int { region.byteCount }

    /// The treap operations over the current node storage.
    @inline(__always) var treap: LargeTreap { LargeTreap(nodes: nodes) }

    /// Ensures `count` nodes can be allocated without growing. Cost: O(capacity) when it grows.
    mutating func reserve(_ count: Int) throws(PasError) {
        if spare >= count { return }
        var newCapacity = capacity * 2
        while newCapacity - highWater + freeCount < count { newCapacity *= 2 }
        guard newCapacity <= Int(UInt32.max) else { throw .outOfMemory(.allocate, requested: count) }
        let newRegion = try MetadataPages.allocate(byteCount: newCapacity * MemoryLayout<LargeNode>.stride)
        let newNodes = newRegion.pointer.bindMemory(to: LargeNode.self, capacity: newCapacity)
        // Invariant: both regions hold at least `highWater` nodes; LargeNode is trivial.
        newNodes.update(from: nodes, count: highWater)
        MetadataPages.release(region)
        region = newRegion
        nodes = newNodes
        capacity = newRegion.byteCount / MemoryLayout<LargeNode>.stride
    }

    /// Hands out a node with the given range and a fresh priority. Precondition: `spare > 0`.
    mutating func allocate(start: UInt, end: UInt, type: UInt32 = 0, stamp: UInt64 = 0) -> UInt32 {
        let index: UInt32
        if freeHead != 0 {
            index = freeHead
            freeHead = nodes[Int(index)].left
            freeCount -= 1
        } else {
            precondition(highWater < capacity, "LargeNodePool: allocate without reserve")
            index = UInt32(highWater)
            highWater += 1
        }
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        nodes[Int(index)] = LargeNode(
            start: start, end: end, maxSize: end &- start, stamp: stamp, type: type,
            priority: UInt32(truncatingIfNeeded: random >> 32),
            left: 0, right: 0)
        liveCount += 1
        return index
    }

    /// Returns a node (already unlinked from every tree) to the pool.
    mutating func free(_ index: UInt32) {
        nodes[Int(index)].left = freeHead
        nodes[Int(index)].right = 0
        freeHead = index
        freeCount += 1
        liveCount -= 1
    }
}
