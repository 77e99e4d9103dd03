import PasSystem

/// The invariant checks behind `LargeHeap.verify()`. Not on any fast path: it may use
/// Swift arrays.
extension LargeHeapCore {
    /// The error `verify()` reports for a broken invariant (the only place that builds it).
    private func broken(_ what: String, at address: UInt = 0) -> PasError {
        .corrupted(.verify, address: address, reason: "large heap: \(what)")
    }

    /// Checks one treap: key order, priority heap order and `maxSize`; appends its nodes in
    /// key order to `out`.
    private func checkTreap(
        _ t: UInt32, priorityLimit: UInt32,
        into out: inout [LargeNode], indices: inout [UInt32]
    ) throws(PasError) -> UInt {
        if t == 0 { return 0 }
        let n = pool.treap[t]
        guard n.start < n.end else { throw broken("empty node", at: n.start) }
        guard n.priority <= priorityLimit else { throw broken("heap order", at: n.start) }
        let leftMax = try checkTreap(
            n.left, priorityLimit: n.priority,
            into: &out, indices: &indices)
        if let last = out.last {
            guard last.type < n.type || (last.type == n.type && last.start < n.start) else {
                throw broken("tree order", at: n.start)
            }
        }
        out.append(n)
        indices.append(t)
        let rightMax = try checkTreap(
            n.right, priorityLimit: n.priority,
            into: &out, indices: &indices)
        let m = Swift.max(n.size, leftMax, rightMax)
        guard n.maxSize == m else { throw broken("maxSize", at: n.start) }
        return m
    }

    /// Checks every invariant of the heap. O(n log n).
    func verify() throws(PasError) {
        var frees: [LargeNode] = [], spans: [LargeNode] = [], chunkSpans: [LargeNode] = []
        var indices: [UInt32] = []
        _ = try checkTreap(freeRoot, priorityLimit: .max, into: &frees, indices: &indices)
        _ = try checkTreap(decommitRoot, priorityLimit: .max, into: &spans, indices: &indices)
        _ = try checkTreap(chunkRoot, priorityLimit: .max, into: &chunkSpans, indices: &indices)
        guard Set(indices).count == indices.count, indices.count == pool.liveCount else {
            throw broken("node accounting: \(indices.count) linked, \(pool.liveCount) live")
        }
        guard frees.count == freeRangeCount else { throw broken("free range count") }
        guard frees.reduce(0, { $0 + Int($1.size) }) == freeBytes else { throw broken("free bytes") }
        guard chunkSpans.reduce(0, { $0 + Int($1.size) }) == chunkBytes else { throw broken("chunk bytes") }
        guard spans.reduce(0, { $0 + Int($1.size) }) == decommittedBytes else { throw broken("decommitted bytes") }

        // Live objects: findable, granule-aligned.
        var pieces: [(start: UInt, end: UInt, free: Bool, type: UInt32)] = []
        var live = 0
        try map.forEachEntry { (e: LargeMapEntry) throws(PasError) in
            guard e.size > 0, map.find(e.start) != nil else { throw broken("large map entry", at: e.start) }
            pieces.append((e.start, e.start + e.size, false, e.type))
            live += Int(e.size)
        }
        guard live == liveBytes else { throw broken("live bytes") }
        for f in frees { pieces.append((f.start, f.end, true, f.type)) }
        pieces.sort { $0.start < $1.start }
        let g = UInt(granule)
        for p in pieces where p.start % g != 0 || p.end % g != 0 {
            throw broken("range not on the granule", at: p.start)
        }
        // Free ranges and objects tile the chunks exactly, without overlap; touching free
        // ranges of one type are coalesced.
        var i = 0
        for (k, c) in chunkSpans.enumerated() {
            if k > 0 && chunkSpans[k - 1].end >= c.start { throw broken("chunk spans not coalesced", at: c.start) }
            var cursor = c.start
            while i < pieces.count && pieces[i].start < c.end {
                let p = pieces[i]
                guard p.start == cursor else { throw broken("gap or overlap", at: cursor) }
                if i > 0, p.free, pieces[i - 1].free, pieces[i - 1].end == p.start, pieces[i - 1].type == p.type {
                    throw broken("uncoalesced free ranges", at: p.start)
                }
                cursor = p.end
                i += 1
            }
            guard cursor == c.end else { throw broken("chunk not covered", at: c.start) }
        }
        guard i == pieces.count else { throw broken("range outside every chunk") }
        // Decommitted spans: page-aligned, coalesced, inside free memory.
        let page = UInt(pageSize)
        var j = 0
        for (k, s) in spans.enumerated() {
            guard s.start % page == 0, s.end % page == 0, k == 0 || spans[k - 1].end < s.start else {
                throw broken("decommitted span", at: s.start)
            }
            var cursor = s.start
            while cursor < s.end {
                while j < pieces.count && pieces[j].end <= cursor { j += 1 }
                guard j < pieces.count, pieces[j].free, pieces[j].start <= cursor else {
                    throw broken("decommitted page not free", at: cursor)
                }
                cursor = pieces[j].end
            }
        }
    }
}
