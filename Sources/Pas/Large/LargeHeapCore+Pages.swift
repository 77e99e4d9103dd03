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

    /// True if a page of `start ..< end` (rounded out to pages) is in the decommitted set.
    func overlapsDecommitted(start: UInt, end: UInt) -> Bool {
        let pageStart = Alignment.roundDown(start, to: pageSize)
        let pageEnd = Alignment.roundUp(end, to: pageSize)
        let s = pool.firstSpan(decommitRoot, endingAfter: pageStart)
        return s != 0 && pool.treap[s].start < pageEnd
    }

    /// True if the page-aligned `a ..< b` is entirely in the decommitted set.
    func isDecommitted(from a: UInt, to b: UInt) -> Bool {
        let s = pool.firstSpan(decommitRoot, endingAfter: a)
        return s != 0 && pool.treap[s].start <= a && pool.treap[s].end >= b
    }

    /// Phase 1 of a decommit pass (see `LargeHeap+Decommit.swift`): records in the
    /// decommitted set, and in `plan`, up to `capacity` runs of pages not decommitted yet:
    /// first the runs of whole pages inside a free range whose stamp is at most `limit`, then
    /// the partial pages that several free ranges (of different types, which never coalesce)
    /// cover entirely together, all with a stamp of at most `limit`. A partial page's stamp
    /// is the latest of its ranges' stamps. Sets `decommitInFlight` if it chose any run.
    /// Returns the earliest stamp of the committed free pages left over
    /// (whole or partial), and a metadata error that ended the choice early (the runs chosen
    /// before it stand). Cost: O(free ranges × log n).
    mutating func planDecommit(
        emptySinceAtMost limit: UInt64, into plan: inout DecommitPlan
    ) -> (remaining: UInt64, error: PasError?) {
        let capacity = plan.capacity
        var count = 0
        var remaining = UInt64.max
        var failure: PasError? = nil
        // Pages free ranges cover in part; temporary pool nodes, returned before this ends.
        var partial: UInt32 = 0
        defer { releaseTree(partial) }
        var x = pool.treap.ceiling(freeRoot, 0, 0)
        while x != 0 {
            let n = pool.treap[x]
            let a = Alignment.roundUp(n.start, to: pageSize)
            let b = Alignment.roundDown(n.end, to: pageSize)
            if a < b {
                if n.stamp <= limit && count < capacity && failure == nil {
                    var cursor = a
                    while cursor < b {
                        let s = pool.firstSpan(decommitRoot, endingAfter: cursor)
                        if s != 0 && pool.treap[s].start <= cursor {
                            cursor = pool.treap[s].end
                            continue
                        }
                        let gapEnd = s == 0 ? b : Swift.min(b, pool.treap[s].start)
                        guard count < capacity else { remaining = Swift.min(remaining, n.stamp); break }
                        do {
                            try pool.reserve(1)
                        } catch {
                            failure = error
                            remaining = Swift.min(remaining, n.stamp)
                            break
                        }
                        pool.insertSpan(&decommitRoot, start: cursor, end: gapEnd)
                        decommittedBytes += Int(gapEnd - cursor)
                        _ = plan.append(DecommitRun(start: cursor, end: gapEnd, stamp: n.stamp))
                        count += 1
                        cursor = gapEnd
                    }
                } else if !isDecommitted(from: a, to: b) {
                    remaining = Swift.min(remaining, n.stamp)
                }
            }
            if failure == nil {
                do {
                    try countPartialPages(of: n, into: &partial)
                } catch {
                    // The pages this range shares may go uncounted: report them as left over.
                    failure = error
                    remaining = Swift.min(remaining, n.stamp)
                }
            } else if !isPageAligned(n) {
                remaining = Swift.min(remaining, n.stamp)
            }
            x = pool.treap.higher(freeRoot, n.type, n.start)
        }
        var p = pool.treap.ceiling(partial, 0, 0)
        while p != 0 {
            let page = pool.treap[p]
            let pageEnd = page.start + UInt(pageSize)
            if page.end == pageEnd && !isDecommitted(from: page.start, to: pageEnd) {
                var chosen = page.stamp <= limit && count < capacity && failure == nil
                if chosen {
                    do {
                        try pool.reserve(1)
                    } catch {
                        failure = error
                        chosen = false
                    }
                }
                if chosen {
                    pool.insertSpan(&decommitRoot, start: page.start, end: pageEnd)
                    decommittedBytes += pageSize
                    _ = plan.append(DecommitRun(start: page.start, end: pageEnd, stamp: page.stamp))
                    count += 1
                } else {
                    remaining = Swift.min(remaining, page.stamp)
                }
            }
            p = pool.treap.higher(partial, 0, page.start)
        }
        if count > 0 { decommitInFlight = true }
        return (remaining, failure)
    }

    /// Phase 3: the runs `plan.runs[failedFrom ..< plan.count]` were not decommitted; forget them as
    /// decommitted (they are committed free pages again). Clears `decommitInFlight`. Returns
    /// the earliest stamp among them (`UInt64.max` if none).
    /// If no spare node can be had to split a span, the run stays recorded as decommitted:
    /// it is committed again on reuse like any decommitted run, so only the accounting errs.
    mutating func finishDecommit(_ plan: DecommitPlan, failedFrom: Int) -> UInt64 {
        var earliest = UInt64.max
        for i in failedFrom ..< plan.count {
            let run = plan.runs[i]
            earliest = Swift.min(earliest, run.stamp)
            guard (try? pool.reserve(1)) != nil else { continue }
            decommittedBytes -= pool.removeSpan(&decommitRoot, start: run.start, end: run.end)
        }
        decommitInFlight = false
        return earliest
    }
}
