import PasSystem
import Synchronization

/// Decommitting free pages without holding the heap's lock across the system calls, and the
/// heap's part in page sharing.
///
/// Protocol (all under `decommitLock`, so one pass at a time per heap):
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
    /// Runs a plan can hold: 16 system pages of metadata.
    static var planCapacity: Int { 16 * SystemInfo.pageSize / MemoryLayout<LargeDecommitRun>.stride }

    /// Like `decommitEmptyPages(olderThan:)`, but only for free ranges whose last growth happened
    /// at or before `limit` (a stamp, see `freeEpoch`): the pool's pass. A range that merged with
    /// a newer free counts as new. Cost and thread-safety as for `decommitEmptyPages(olderThan:)`.
    @discardableResult
    public func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int {
        decommitLock.lock()
        defer { decommitLock.unlock() }
        // A heap that never allocated has nothing to decommit (and needs no plan pages).
        let used = lock.withLock { core != nil }
        guard used else { return 0 }
        if planRange == nil {
            planRange = try MetadataPages.allocate(byteCount: Self.planCapacity * MemoryLayout<LargeDecommitRun>.stride)
        }
        // Invariant: the plan region is mapped for the heap's life, sized for `planCapacity`
        // runs, and used only by the holder of `decommitLock`.
        let plan = planRange!.pointer.bindMemory(to: LargeDecommitRun.self, capacity: Self.planCapacity)

        // Phase 1: choose.
        lock.lock()
        guard core != nil else {
            lock.unlock()
            return 0
        }
        let (count, remaining, metadataError) = core!.planDecommit(
            emptySinceAtMost: limit, into: plan,
            capacity: Self.planCapacity)
        earliestFree.store(remaining, ordering: .sequentiallyConsistent)
        lock.unlock()

        // Phase 2: system calls, without `lock`.
        var bytes = 0
        var failedFrom = count
        var failure: PasError? = nil
        for i in 0 ..< count {
            let run = MemoryRange(start: plan[i].start, byteCount: Int(plan[i].end - plan[i].start))
            do {
                try chunks.decommit(run)
                bytes += run.byteCount
            } catch {
                failure = error
                failedFrom = i
                break
            }
        }

        // Phase 3: record.
        lock.lock()
        if count > 0 {
            let earliest = core!.finishDecommit(plan, count: count, failedFrom: failedFrom)
            if earliest < earliestFree.load(ordering: .relaxed) {
                earliestFree.store(earliest, ordering: .sequentiallyConsistent)
            }
        }
        let hasFree = earliestFree.load(ordering: .relaxed) != .max
        lock.unlock()
        if hasFree { pageSharing?.participantHasEmptyPages() }
        if let failure { throw failure }
        if let metadataError { throw metadataError }
        return bytes
    }

    /// A free range that may hold a free page (whole, or partial, with free ranges of other
    /// types) was made at `stamp`. Needs `lock`.
    @inline(__always)
    func noteFreePages(since stamp: UInt64) {
        if earliestFree.load(ordering: .relaxed) == .max {
            earliestFree.store(stamp, ordering: .sequentiallyConsistent)
            pageSharing?.participantHasEmptyPages()
        }
    }

    /// After an allocation: no free range left means nothing to decommit; a fresh chunk's
    /// leftover counts as free pages. Needs `lock`.
    @inline(__always)
    func noteAllocated(grew: Bool) {
        if core!.freeRangeCount == 0 {
            earliestFree.store(.max, ordering: .relaxed)
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
    public var earliestEmptyTime: UInt64? {
        let t = earliestFree.load(ordering: .acquiring)
        return t == .max ? nil : t
    }

    /// Bytes drawn from the chunk source and not decommitted. Takes the heap's lock.
    public var committedPageBytes: Int { statistics.committedBytes }

    /// Bytes decommitted and not re-committed. Takes the heap's lock.
    public var decommittedPageBytes: Int { statistics.decommittedBytes }
}
