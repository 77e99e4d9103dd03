import PasSystem

/// Partial pages: free ranges of different types never coalesce, so a page
/// can be free from end to end while no single free range holds it whole. A decommit pass
/// counts such pages in a temporary tree of pool nodes, one node per page that some free
/// range covers only in part, keyed by the page's start (type 0):
/// - `end - start` is the number of free bytes counted in the page so far (the node is
///   complete, the page entirely free, when it equals the page size; free ranges never
///   overlap, so no byte is counted twice);
/// - `stamp` is the latest stamp of the ranges counted, so the page is old enough once it is.
extension LargeHeapCore {
    /// True if free range `n` starts and ends on page boundaries (it shares no page).
    func isPageAligned(_ n: LargeNode) -> Bool {
        n.start % UInt(pageSize) == 0 && n.end % UInt(pageSize) == 0
    }

    /// Counts the bytes of free range `n` in the pages it covers only in part (at most two:
    /// its first and its last page) in the temporary tree `root`. Needs up to two nodes, which
    /// it reserves; on a failure the tree holds what was counted before.
    mutating func countPartialPages(of n: LargeNode, into root: inout UInt32) throws(PasError) {
        let page = UInt(pageSize)
        let head = Alignment.roundDown(n.start, to: pageSize)
        if head != n.start {
            try addPartial(&root, page: head, bytes: Swift.min(n.end, head + page) - n.start, stamp: n.stamp)
        }
        let tail = Alignment.roundDown(n.end, to: pageSize)
        // The last page, unless the range ends inside its first page (counted just above).
        if tail != n.end && !(tail == head && head != n.start) {
            try addPartial(&root, page: tail, bytes: n.end - Swift.max(n.start, tail), stamp: n.stamp)
        }
    }

    /// Counts `bytes` free bytes, stamped `stamp`, in `page` of the temporary tree `root`.
    private mutating func addPartial(_ root: inout UInt32, page: UInt, bytes: UInt, stamp: UInt64) throws(PasError) {
        let x = pool.treap.floor(root, 0, page)
        if x != 0 && pool.treap[x].start == page {
            pool.treap[x].end += bytes
            pool.treap[x].stamp = Swift.max(pool.treap[x].stamp, stamp)
            // The key is unchanged; `maxSize` goes stale, which is harmless as this tree is
            // only walked in key order.
            return
        }
        try pool.reserve(1)
        let y = pool.allocate(start: page, end: page + bytes, type: 0, stamp: stamp)
        pool.treap.insert(&root, y)
    }

    /// Returns every node of a temporary tree to the pool. O(nodes); recursion depth is the
    /// tree's height (expected O(log n)).
    mutating func releaseTree(_ t: UInt32) {
        if t == 0 { return }
        let n = pool.treap[t]
        releaseTree(n.left)
        releaseTree(n.right)
        pool.free(t)
    }
}
