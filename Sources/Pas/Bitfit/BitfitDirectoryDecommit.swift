import PasSystem
import Synchronization

/// Returning empty pages to the system without holding the allocation lock across the
/// system calls.
///
/// Protocol (all under `decommitLock`, so one pass at a time per directory):
/// 1. Choose, under `lock`: every committed empty page empty since the deadline or earlier
///    becomes "decommitting" (`isCommitted = false`, `isDecommitting = true`) and leaves the
///    committed and empty counts. Allocation skips such pages: they are neither committed
///    nor candidates for re-commit. The earliest empty time of the pages left is published.
/// 2. Decommit, without `lock`: runs of decommitting pages at consecutive addresses become one
///    `chunks.decommit` call each, in page order. After the first failure no further call is
///    made; the failed and untried pages are marked `decommitFailed`.
/// 3. Record, under `lock`: decommitted pages become plain decommitted pages (re-committed on
///    reuse); failed ones become committed empty pages again with their old empty time (an
///    inline header is rewritten, since part of the page may read zero now), so a later pass
///    retries them.
/// An allocation that finds no committed page with room and no decommitted page, while pages
/// are decommitting, drops `lock`, waits for `decommitLock` and searches again.
extension BitfitDirectory {
    /// Decommits every committed empty page that has been empty since `deadline` or earlier.
    /// Returns the bytes decommitted. Pages decommitted before a failure stay decommitted;
    /// the failing page and those after it stay committed and empty; the error is thrown.
    func decommitEmptyPages(emptySinceAtMost deadline: UInt64) throws(PasError) -> Int {
        decommitLock.lock()
        defer { decommitLock.unlock() }

        // Phase 1: choose.
        lock.lock()
        let pageCount = state.pointee.pageCount
        var chosen = 0
        var remaining = UInt64.max
        for index in 0 ..< pageCount {
            let e = entry(page: index)
            guard e.pointee.isCommitted, e.pointee.liveGranules == 0 else { continue }
            if e.pointee.emptySince <= deadline {
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
        earliestEmpty.store(remaining, ordering: .sequentiallyConsistent)
        lock.unlock()
        guard chosen > 0 else {
            if remaining != .max { pool?.participantHasEmptyPages() }
            return 0
        }

        // Phase 2: system calls, without `lock`.
        // Invariant: entries `0 ..< pageCount` and the chunk table slots behind them were
        // published under `lock` before phase 1 and never move; `base` never changes; only
        // this pass (holding `decommitLock`) writes `isDecommitting` and `decommitFailed`,
        // and no other thread writes any field of a decommitting page.
        var bytes = 0
        var failure: PasError? = nil
        var index = 0
        while index < pageCount {
            let first = entry(page: index)
            guard first.pointee.isDecommitting else { index += 1; continue }
            let start = first.pointee.base
            var runEnd = start + UInt(Config.pageSize)
            var end = index + 1
            while end < pageCount {
                let next = entry(page: end)
                guard next.pointee.isDecommitting, next.pointee.base == runEnd else { break }
                runEnd += UInt(Config.pageSize)
                end += 1
            }
            if failure == nil {
                do {
                    try chunks.decommit(MemoryRange(start: start, byteCount: Int(runEnd - start)))
                    bytes += Int(runEnd - start)
                } catch {
                    failure = error
                }
            }
            if failure != nil {
                for i in index ..< end { entry(page: i).pointee.decommitFailed = true }
            }
            index = end
        }

        // Phase 3: record.
        lock.lock()
        var restored = 0
        var restoredEarliest = UInt64.max
        for i in 0 ..< pageCount {
            let e = entry(page: i)
            guard e.pointee.isDecommitting else { continue }
            e.pointee.isDecommitting = false
            if e.pointee.decommitFailed {
                e.pointee.decommitFailed = false
                e.pointee.isCommitted = true
                if Config.headerPlacement == .inline { BitfitPage<Config>(e).resetHeader() }
                restored += 1
                restoredEarliest = min(restoredEarliest, e.pointee.emptySince)
            }
        }
        state.pointee.decommittingPages -= chosen
        state.pointee.committedPages += restored
        state.pointee.emptyPages += restored
        if restoredEarliest < earliestEmpty.load(ordering: .relaxed) {
            earliestEmpty.store(restoredEarliest, ordering: .sequentiallyConsistent)
        }
        let hasEmpty = earliestEmpty.load(ordering: .relaxed) != .max
        lock.unlock()
        if hasEmpty { pool?.participantHasEmptyPages() }
        if let failure { throw failure }
        return bytes
    }
}
