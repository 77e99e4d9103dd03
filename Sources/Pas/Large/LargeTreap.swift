/// Treap operations over `LargeNode`s: a binary search tree on the key `(type, start)` that is
/// heap-ordered on random priorities (so its expected depth is O(log n)) and augmented with
/// the largest range size in each subtree (so a first-fit search skips subtrees that are too
/// small).
///
/// A value that borrows the pool's node storage: take it again after the pool grows.
/// Roots are plain indices held by the caller (0 = empty tree). Not thread-safe.
struct LargeTreap {
    /// Invariant: points at the pool's storage; every index passed in is a live node.
    let nodes: UnsafeMutablePointer<LargeNode>

    @inline(__always) subscript(_ i: UInt32) -> LargeNode {
        get { nodes[Int(i)] }
        nonmutating set { nodes[Int(i)] = newValue }
    }

    /// True if node `a`'s key is below `(type, start)`.
    @inline(__always) func isBelow(_ a: UInt32, _ type: UInt32, _ start: UInt) -> Bool {
        let n = nodes[Int(a)]
        return n.type < type || (n.type == type && n.start < start)
    }

    /// Recomputes `maxSize` of `t` from its children.
    @inline(__always) func update(_ t: UInt32) {
        let n = nodes[Int(t)]
        var m = n.end &- n.start
        if n.left != 0 { m = Swift.max(m, nodes[Int(n.left)].maxSize) }
        if n.right != 0 { m = Swift.max(m, nodes[Int(n.right)].maxSize) }
        nodes[Int(t)].maxSize = m
    }

    /// Splits `t` into keys below `(type, start)` and keys at or above it.
    func split(_ t: UInt32, _ type: UInt32, _ start: UInt) -> (UInt32, UInt32) {
        if t == 0 { return (0, 0) }
        if isBelow(t, type, start) {
            let (a, b) = split(nodes[Int(t)].right, type, start)
            nodes[Int(t)].right = a
            update(t)
            return (t, b)
        } else {
            let (a, b) = split(nodes[Int(t)].left, type, start)
            nodes[Int(t)].left = b
            update(t)
            return (a, t)
        }
    }

    /// Joins two treaps where every key of `a` is below every key of `b`.
    func merge(_ a: UInt32, _ b: UInt32) -> UInt32 {
        if a == 0 { return b }
        if b == 0 { return a }
        if nodes[Int(a)].priority >= nodes[Int(b)].priority {
            nodes[Int(a)].right = merge(nodes[Int(a)].right, b)
            update(a)
            return a
        } else {
            nodes[Int(b)].left = merge(a, nodes[Int(b)].left)
            update(b)
            return b
        }
    }

    /// Inserts node `x` (not in any tree; its key not yet present). Expected O(log n).
    func insert(_ root: inout UInt32, _ x: UInt32) {
        let n = nodes[Int(x)]
        nodes[Int(x)].left = 0
        nodes[Int(x)].right = 0
        nodes[Int(x)].maxSize = n.end &- n.start
        let (a, b) = split(root, n.type, n.start)
        root = merge(merge(a, x), b)
    }

    /// Unlinks node `x`, which must be in the tree under `root`. Expected O(log n).
    func remove(_ root: inout UInt32, _ x: UInt32) {
        root = removing(root, x)
    }

    private func removing(_ t: UInt32, _ x: UInt32) -> UInt32 {
        precondition(t != 0, "LargeTreap: removing a node that is not in the tree")
        if t == x {
            let n = nodes[Int(t)]
            return merge(n.left, n.right)
        }
        if isBelow(x, nodes[Int(t)].type, nodes[Int(t)].start) {
            nodes[Int(t)].left = removing(nodes[Int(t)].left, x)
        } else {
            nodes[Int(t)].right = removing(nodes[Int(t)].right, x)
        }
        update(t)
        return t
    }

    /// The node with the greatest key at or below `(type, start)`, or 0.
    func floor(_ root: UInt32, _ type: UInt32, _ start: UInt) -> UInt32 {
        var t = root, best: UInt32 = 0
        while t != 0 {
            let n = nodes[Int(t)]
            if n.type < type || (n.type == type && n.start <= start) { best = t; t = n.right } else { t = n.left }
        }
        return best
    }

    /// The node with the greatest key strictly below `(type, start)`, or 0.
    func lower(_ root: UInt32, _ type: UInt32, _ start: UInt) -> UInt32 {
        var t = root, best: UInt32 = 0
        while t != 0 {
            if isBelow(t, type, start) { best = t; t = nodes[Int(t)].right } else { t = nodes[Int(t)].left }
        }
        return best
    }

    /// The node with the least key at or above `(type, start)`, or 0.
    func ceiling(_ root: UInt32, _ type: UInt32, _ start: UInt) -> UInt32 {
        var t = root, best: UInt32 = 0
        while t != 0 {
            if isBelow(t, type, start) { t = nodes[Int(t)].right } else { best = t; t = nodes[Int(t)].left }
        }
        return best
    }

    /// The node with the least key strictly above `(type, start)`, or 0.
    func higher(_ root: UInt32, _ type: UInt32, _ start: UInt) -> UInt32 {
        var t = root, best: UInt32 = 0
        while t != 0 {
            let n = nodes[Int(t)]
            if n.type > type || (n.type == type && n.start > start) { best = t; t = n.left } else { t = n.right }
        }
        return best
    }

    /// The lowest-address node of `type` in which `size` bytes fit at an address aligned to
    /// `alignment` (a power of two); returns the node and that address, or (0, 0).
    ///
    /// Subtrees whose largest range is smaller than `size`, or whose keys are of another
    /// type, are skipped, so without alignment misses this costs O(depth).
    func firstFit(_ t: UInt32, type: UInt32, size: UInt, alignment: Int) -> (node: UInt32, address: UInt) {
        if t == 0 { return (0, 0) }
        let n = nodes[Int(t)]
        if n.maxSize < size { return (0, 0) }
        if n.type > type { return firstFit(n.left, type: type, size: size, alignment: alignment) }
        if n.type < type { return firstFit(n.right, type: type, size: size, alignment: alignment) }
        let found = firstFit(n.left, type: type, size: size, alignment: alignment)
        if found.node != 0 { return found }
        if n.end &- n.start >= size {
            let mask = UInt(alignment) &- 1
            let (sum, overflow) = n.start.addingReportingOverflow(mask)
            let address = sum & ~mask
            if !overflow, address <= n.end, n.end - address >= size { return (t, address) }
        }
        return firstFit(n.right, type: type, size: size, alignment: alignment)
    }
}
