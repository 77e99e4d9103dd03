import PasSystem

/// Physical pages of the large heap: decommitting whole free pages and re-committing them
/// before they are handed out again.
extension LargeHeapCore {
    /// Re-commits every decommitted page that `start ..< end` touches, through
    /// `chunks.commit`, and forgets those pages as decommitted. On a failure the pages
    /// committed so far are forgotten and the rest stay recorded, so the state is consistent.
    /// Needs one spare node (only a span covering the whole request is split).
    mutating func commitDecommitted<Chunks: ChunkSource>(start: UInt, end: UInt, chunks: Chunks) throws(PasError) {
        guard decommitRoot != 0 else { return }
        let pageStart = Alignment.roundDown(start, to: pageSize)
        let pageEnd = Alignment.roundUp(end, to: pageSize)
        var x = pool.firstSpan(decommitRoot, endingAfter: pageStart)
        while x != 0 {
            let n = pool.treap[x]
            if n.start >= pageEnd { break }
            let cutStart = Swift.max(n.start, pageStart), cutEnd = Swift.min(n.end, pageEnd)
            try chunks.commit(MemoryRange(start: cutStart, byteCount: Int(cutEnd - cutStart)))
            decommittedBytes -= pool.removeSpan(&decommitRoot, start: cutStart, end: cutEnd)
            x = pool.firstSpan(decommitRoot, endingAfter: cutEnd)
        }
    }

    /// Decommits every whole page of free memory not decommitted yet, whose free ranges all
    /// have a stamp of at most `freedAtOrBefore`. A page may be covered by several free ranges
    /// (of different types); it counts once all of them are eligible. Returns the bytes
    /// decommitted. Cost: O(free ranges × log n) plus one `chunks.decommit` per run of pages.
    mutating func decommitFreePages<Chunks: ChunkSource>(freedAtOrBefore limit: UInt64,
                                                         chunks: Chunks) throws(PasError) -> Int {
        // Pages that free ranges cover only in part, keyed by page start: `stamp` counts the
        // bytes covered, plus `ineligibleMark` once an ineligible range touches the page.
        // Temporary nodes from the pool, freed before returning.
        var partial: UInt32 = 0
        defer { releaseTree(partial) }
        var total = 0
        var x = pool.treap.ceiling(freeRoot, 0, 0)
        while x != 0 {
            let n = pool.treap[x]
            let eligible = n.stamp <= limit
            let page = UInt(pageSize)
            let a = Alignment.roundUp(n.start, to: pageSize)
            let b = Alignment.roundDown(n.end, to: pageSize)
            if a < b && eligible { total += try decommitGaps(from: a, to: b, chunks: chunks) }
            let head = Alignment.roundDown(n.start, to: pageSize)
            if head != n.start {
                try addPartial(&partial, page: head, bytes: Swift.min(n.end, head + page) - n.start, eligible: eligible)
            }
            let tail = Alignment.roundDown(n.end, to: pageSize)
            if tail != n.end && !(tail == head && head != n.start) {
                try addPartial(&partial, page: tail, bytes: n.end - Swift.max(n.start, tail), eligible: eligible)
            }
            x = pool.treap.higher(freeRoot, n.type, n.start)
        }
        var p = pool.treap.ceiling(partial, 0, 0)
        while p != 0 {
            let n = pool.treap[p]
            if n.stamp == UInt64(pageSize) {
                total += try decommitGaps(from: n.start, to: n.end, chunks: chunks)
            }
            p = pool.treap.higher(partial, 0, n.start)
        }
        return total
    }

    /// Set in a partial page's byte count when a range that is not old enough touches it.
    private static var ineligibleMark: UInt64 { 1 << 63 }

    /// Counts `bytes` of free memory in `page` in the temporary partial-page tree.
    private mutating func addPartial(_ root: inout UInt32, page: UInt, bytes: UInt, eligible: Bool) throws(PasError) {
        var x = pool.treap.floor(root, 0, page)
        if x == 0 || pool.treap[x].start != page {
            try pool.reserve(1)
            x = pool.allocate(start: page, end: page + UInt(pageSize), type: 0, stamp: 0)
            pool.treap.insert(&root, x)
        }
        pool.treap[x].stamp += UInt64(bytes)
        if !eligible { pool.treap[x].stamp |= Self.ineligibleMark }
    }

    /// Returns every node of a temporary tree to the pool.
    private mutating func releaseTree(_ t: UInt32) {
        if t == 0 { return }
        let n = pool.treap[t]
        releaseTree(n.left)
        releaseTree(n.right)
        pool.free(t)
    }

    /// Decommits the parts of the page-aligned `a ..< b` not yet in the decommitted set.
    private mutating func decommitGaps<Chunks: ChunkSource>(from a: UInt, to b: UInt,
                                                            chunks: Chunks) throws(PasError) -> Int {
        var total = 0
        var cursor = a
        while cursor < b {
            let s = pool.firstSpan(decommitRoot, endingAfter: cursor)
            if s != 0 && pool.treap[s].start <= cursor {
                cursor = pool.treap[s].end
                continue
            }
            let gapEnd = s == 0 ? b : Swift.min(b, pool.treap[s].start)
            try pool.reserve(1)
            let gap = MemoryRange(start: cursor, byteCount: Int(gapEnd - cursor))
            try chunks.decommit(gap)
            pool.insertSpan(&decommitRoot, start: cursor, end: gapEnd)
            decommittedBytes += gap.byteCount
            total += gap.byteCount
            cursor = gapEnd
        }
        return total
    }
}
