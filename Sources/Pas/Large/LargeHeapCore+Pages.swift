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

    /// Decommits every whole page inside a free range whose stamp is at most
    /// `freedAtOrBefore` and that is not decommitted yet. Returns the bytes decommitted.
    /// Cost: O(free ranges × log n) plus one `chunks.decommit` per run of pages.
    mutating func decommitFreePages<Chunks: ChunkSource>(freedAtOrBefore limit: UInt64,
                                                         chunks: Chunks) throws(PasError) -> Int {
        var total = 0
        var x = pool.treap.ceiling(freeRoot, 0, 0)
        while x != 0 {
            let n = pool.treap[x]
            if n.stamp <= limit {
                let a = Alignment.roundUp(n.start, to: pageSize)
                let b = Alignment.roundDown(n.end, to: pageSize)
                if a < b { total += try decommitGaps(from: a, to: b, chunks: chunks) }
            }
            x = pool.treap.higher(freeRoot, n.type, n.start)
        }
        return total
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
