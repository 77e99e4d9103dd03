import PasSystem
import Synchronization

/// Returning empty pages to the system without holding the allocation lock across the
/// system calls: `DecommitPass` over the directory's plan.
///
/// Protocol (all under `decommitLock`, so one pass at a time per directory):
/// 1. Choose, under `lock`: every committed empty page empty since the deadline or earlier
///    (while the plan has room) becomes "decommitting" (`isCommitted = false`,
///    `isDecommitting = true`), leaves the committed and empty counts, and joins the plan
///    (pages at consecutive addresses share a run). Allocation skips such pages: they are
///    neither committed nor candidates for re-commit. The earliest empty time of the pages
///    left is published.
/// 2. Decommit, without `lock`: one `chunks.decommit` call per run, in page order, stopping at
///    the first failure.
/// 3. Record, under `lock`: pages of decommitted runs become plain decommitted pages
///    (re-committed on reuse); those of the failed and untried runs become committed empty
///    pages again with their old empty time (an inline header is rewritten, since part of the
///    page may read zero now), so a later pass retries them.
/// An allocation that finds no committed page with room and no decommitted page, while pages
/// are decommitting, drops `lock`, waits for `decommitLock` and searches again.
extension BitfitDirectory {
    /// Decommits every committed empty page that has been empty since `deadline` or earlier.
    /// Returns the bytes decommitted. Pages decommitted before a failure stay decommitted;
    /// the failing page and those after it stay committed and empty; the error is thrown.
    func decommitEmptyPages(emptySinceAtMost deadline: UInt64) throws(PasError) -> Int {
        decommitLock.lock()
        defer { decommitLock.unlock() }
        if plan == nil { plan = try DecommitPlan.allocate() }
        // Invariant: entries `0 ..< pageCount` and the chunk table slots behind them were
        // published under `lock` before the choice and never move; `base` never changes; only
        // this pass (holding `decommitLock`) writes `isDecommitting`, and no other thread
        // writes any field of a decommitting page. The plan is used only under `decommitLock`.
        var pageCount = 0
        var chosen = 0
        let (bytes, failure) = DecommitPass.run(
            &plan!,
            choose: { plan in
                lock.lock()
                pageCount = state.pointee.pageCount
                var remaining = UInt64.max
                for index in 0 ..< pageCount {
                    let e = entry(page: index)
                    guard e.pointee.isCommitted, e.pointee.liveGranules == 0 else { continue }
                    if e.pointee.emptySince <= deadline,
                        plan.add(start: e.pointee.base, byteCount: Config.pageSize, stamp: e.pointee.emptySince)
                    {
                        e.pointee.isCommitted = false
                        e.pointee.isDecommitting = true
                        chosen += 1
                    } else {
                        remaining = min(remaining, e.pointee.emptySince)
                    }
                }
                state.pointee.committedPages -= chosen
                state.pointee.emptyPages -= chosen
                state.pointee.decommittingPages += chosen
                emptySignal.publish(remaining)
                lock.unlock()
            },
            decommit: { (range) throws(PasError) in try chunks.decommit(range) },
            record: { plan, failedFrom in
                lock.lock()
                var restored = 0
                var restoredEarliest = UInt64.max
                // Pages joined the plan in page order, so their runs come in that order too.
                var run = 0
                for i in 0 ..< pageCount {
                    let e = entry(page: i)
                    guard e.pointee.isDecommitting else { continue }
                    e.pointee.isDecommitting = false
                    run = plan.run(holding: e.pointee.base, from: run)
                    if run >= failedFrom {
                        e.pointee.isCommitted = true
                        if Config.headerPlacement == .inline { BitfitPage<Config>(e).resetHeader() }
                        restored += 1
                        restoredEarliest = min(restoredEarliest, e.pointee.emptySince)
                    }
                }
                state.pointee.decommittingPages -= chosen
                state.pointee.committedPages += restored
                state.pointee.emptyPages += restored
                emptySignal.lower(to: restoredEarliest)
                lock.unlock()
            })
        emptySignal.wakeIfPending()
        if let failure { throw failure }
        return bytes
    }
}
