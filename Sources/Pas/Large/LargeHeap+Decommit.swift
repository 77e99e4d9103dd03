import PasSystem
import Synchronization

/// Decommitting free pages without holding the heap's lock across the system calls, and the
/// heap's part in page sharing.
///
/// Protocol (`DecommitPass`, all under `decommitLock`, so one pass at a time per heap):
/// 1. Choose, under `lock`: runs of whole free pages old enough and not yet decommitted, then
///    partial pages (covered by free ranges of different types) that are all old enough, go into the
///    decommitted set at once (and into the plan), and `decommitInFlight` is set.
/// 2. Decommit, without `lock`: one `chunks.decommit` per run, in plan order, stopping at the
///    first failure.
/// 3. Record, under `lock`: the runs not decommitted leave the decommitted set again (they are
///    committed free pages, retried by a later pass); `decommitInFlight` is cleared.
/// An allocation whose fit overlaps the decommitted set while a pass is in flight changes
/// nothing, drops `lock`, waits for `decommitLock` and retries; frees and allocations
/// elsewhere proceed during the system calls.
extension LargeHeap {
    /// Like `decommitEmptyPages(olderThan:)`, but only for free ranges whose last growth happened
    /// at or before `limit` (a stamp, see `freeEpoch`): the pool's pass. A range that merged with
    /// a newer free counts as new. Cost and thread-safety as for `decommitEmptyPages(olderThan:)`.
    /// The pass is `DecommitPass` over this heap's plan.
    @discardableResult
    public func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        decommitLock.lock()
        defer { decommitLock.unlock() }
        // A heap that never allocated has nothing to decommit (and needs no plan pages).
        let used = lock.withLock { core != nil }
        guard used else { return 0 }
        if plan == nil { plan = try DecommitPlan.allocate() }
        // Invariant: the plan is used only by the holder of `decommitLock`.
        var metadataError: PasError? = nil
        let (bytes, failure) = DecommitPass.run(
            &plan!,
            choose: { plan in
                lock.lock()
                let (remaining, error) = core!.planDecommit(emptySinceAtMost: limit, into: &plan)
                metadataError = error
                emptySignal.publish(remaining)
                lock.unlock()
            },
            decommit: { (range) throws(PasError) in try chunks.decommit(range) },
            record: { plan, failedFrom in
                lock.lock()
                emptySignal.lower(to: core!.finishDecommit(plan, failedFrom: failedFrom))
                lock.unlock()
            })
        emptySignal.wakeIfPending()
        if let failure { throw failure }
        if let metadataError { throw metadataError }
        return bytes
    }

    /// A free range that may hold a free page (whole, or partial, with free ranges of other
    /// types) was made at `stamp`. Needs `lock`.
    @inline(__always)
    func noteFreePages(since stamp: UInt64) { emptySignal.pageBecameEmpty(at: stamp) }

    /// After an allocation: no free range left means nothing to decommit; a fresh chunk's
    /// leftover counts as free pages. Needs `lock`.
    @inline(__always)
    func noteAllocated(grew: Bool) {
        if core!.freeRangeCount == 0 {
            emptySignal.clear()
        } else if grew {
            noteFreePages(since: core!.epoch)
        }
    }
}

/// A large heap takes part in page sharing as one participant: whole pages inside free
/// ranges are the candidates, stamped when their range last grew, and pages covered by
/// several free ranges, stamped when the last of them grew.
extension LargeHeap: PageSharingParticipant {
    /// Lower bound of the stamps of the committed free pages (whole or partial), or nil.
    /// One atomic load.
    public var earliestEmptyTime: UInt64? { emptySignal.earliestTime }

    /// Bytes drawn from the chunk source and not decommitted. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedBytes }

    /// Bytes decommitted and not re-committed. Takes the heap's lock.
    public var decommittedPageBytes: Int { statistics.decommittedBytes }
}
