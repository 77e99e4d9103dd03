/// Address-ordered sets of disjoint, coalesced spans kept as untyped treaps in the node pool:
/// the large heap's chunk set (memory it manages) and its decommitted-page set.
///
/// Not thread-safe: the owning heap's lock protects the pool and the roots.
extension LargeNodePool {
    /// The span containing `address`, or 0. Expected O(log n).
    func span(_ root: UInt32, containing address: UInt) -> UInt32 {
        let t = treap
        let s = t.floor(root, 0, address)
        return s != 0 && t[s].end > address ? s : 0
    }

    /// The first span that ends after `address` (it may start after it), or 0.
    func firstSpan(_ root: UInt32, endingAfter address: UInt) -> UInt32 {
        let t = treap
        let s = t.floor(root, 0, address)
        if s != 0 && t[s].end > address { return s }
        return t.higher(root, 0, address)
    }

    /// Adds `start ..< end`, which must not overlap the set, merging it with the spans that
    /// touch it. Needs one spare node. Expected O(log n).
    mutating func insertSpan(_ root: inout UInt32, start: UInt, end: UInt) {
        precondition(start < end, "LargeSpanSet: empty span")
        let t = treap
        var s = start, e = end
        let left = t.lower(root, 0, start)
        if left != 0 && t[left].end == start {
            s = t[left].start
            t.remove(&root, left)
            free(left)
        }
        let right = t.ceiling(root, 0, start)
        if right != 0 && t[right].start == end {
            e = t[right].end
            t.remove(&root, right)
            free(right)
        }
        let x = allocate(start: s, end: e)
        treap.insert(&root, x)
    }

    /// Removes `start ..< end` from every span it overlaps, splitting a span that covers it
    /// in the middle. Needs one spare node. Returns the number of bytes removed.
    @discardableResult
    mutating func removeSpan(_ root: inout UInt32, start: UInt, end: UInt) -> Int {
        var removed = 0
        var x = firstSpan(root, endingAfter: start)
        while x != 0 && treap[x].start < end {
            let t = treap
            let n = t[x]
            let next = t.higher(root, 0, n.start)
            t.remove(&root, x)
            let cutStart = Swift.max(n.start, start), cutEnd = Swift.min(n.end, end)
            removed += Int(cutEnd - cutStart)
            var reused = false
            if n.start < cutStart {
                t[x].end = cutStart
                t.insert(&root, x)
                reused = true
            }
            if cutEnd < n.end {
                if reused {
                    let y = allocate(start: cutEnd, end: n.end)
                    treap.insert(&root, y)
                } else {
                    t[x].start = cutEnd
                    t.insert(&root, x)
                    reused = true
                }
            }
            if !reused { free(x) }
            x = next
        }
        return removed
    }
}
