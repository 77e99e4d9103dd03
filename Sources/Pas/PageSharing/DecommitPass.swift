import PasSystem
import Synchronization

/// The empty-page signal of one heap (a segregated heap, a bitfit directory, a large heap): the
/// earliest time a committed page of it became empty, read lock-free by the pool's scavenger,
/// and the pool to wake when the first such page appears.
///
/// Protocol: the heap calls `pageBecameEmpty(at:)` with the lock that protects the page held;
/// only the first empty page since the last pass stores and wakes the pool (one relaxed load
/// otherwise). An early value is allowed (the pass then finds nothing old enough and publishes
/// the exact time); a late one is not. `DecommitPass` publishes what is left after choosing and
/// lowers it again for runs that could not be decommitted.
@usableFromInline
final class EmptyPageSignal: @unchecked Sendable {
    /// `UInt64.max` when no committed page is empty; otherwise at most the empty time of each.
    @usableFromInline let earliest = Atomic<UInt64>(.max)
    /// The pool to wake, or nil (the heap is in no pool).
    @usableFromInline let pool: PageSharingPool?

    init(pool: PageSharingPool?) { self.pool = pool }

    /// The earliest empty time, or nil if no committed page is empty. One atomic load.
    var earliestTime: UInt64? {
        let t = earliest.load(ordering: .acquiring)
        return t == .max ? nil : t
    }

    /// A committed page became empty at `now`. Cost: one relaxed load unless this is the first
    /// empty page since the last pass, which also stores and wakes the pool.
    @inlinable @inline(__always)
    func pageBecameEmpty(at now: UInt64) {
        if earliest.load(ordering: .relaxed) == .max {
            earliest.store(now, ordering: .sequentiallyConsistent)
            pool?.participantHasEmptyPages()
        }
    }

    /// No committed empty page is left (exact, so the scavenger can sleep).
    @inlinable @inline(__always)
    func clear() { earliest.store(.max, ordering: .relaxed) }

    /// Sets the earliest time to `t` (`UInt64.max`: none).
    func publish(_ t: UInt64) { earliest.store(t, ordering: .sequentiallyConsistent) }

    /// Lowers the earliest time to `t` if it is earlier.
    func lower(to t: UInt64) {
        if t < earliest.load(ordering: .relaxed) { earliest.store(t, ordering: .sequentiallyConsistent) }
    }

    /// Wakes the pool if committed empty pages are left. Call with no heap lock held.
    func wakeIfPending() {
        if earliest.load(ordering: .relaxed) != .max { pool?.participantHasEmptyPages() }
    }
}

/// One range a decommit pass gives back, page-aligned, with the earliest empty time of its
/// pages (restored to the signal if the range could not be decommitted).
struct DecommitRun {
    var start: UInt
    var end: UInt
    var stamp: UInt64

    var range: MemoryRange { MemoryRange(start: start, byteCount: Int(end &- start)) }
}

/// The runs one pass chose, in metadata pages its heap keeps for its life (never in the memory
/// the heap manages, which may be code). Used by one pass at a time (the heap's decommit lock).
struct DecommitPlan {
    let runs: UnsafeMutablePointer<DecommitRun>
    let capacity: Int
    var count = 0
    /// The mapping behind `runs`.
    let region: MemoryRange

    /// Runs a plan holds: 16 system pages of them.
    static var defaultCapacity: Int { 16 * SystemInfo.pageSize / MemoryLayout<DecommitRun>.stride }

    /// Maps a plan of `capacity` runs. Release it with `release()`.
    static func allocate(capacity: Int = defaultCapacity) throws(PasError) -> DecommitPlan {
        let region = try MetadataPages.allocate(byteCount: capacity * MemoryLayout<DecommitRun>.stride)
        // Invariant: the mapping is used only through this plan until `release`.
        let runs = region.pointer.bindMemory(to: DecommitRun.self, capacity: capacity)
        return DecommitPlan(runs: runs, capacity: capacity, region: region)
    }

    func release() { try? VirtualMemory.release(region) }

    /// Empties the plan for a new pass.
    mutating func reset() { count = 0 }

    /// Appends a run as given. False (and nothing added) if the plan is full.
    mutating func append(_ run: DecommitRun) -> Bool {
        guard count < capacity else { return false }
        runs[count] = run
        count += 1
        return true
    }

    /// Adds `[start, start + byteCount)`, extending the last run when the range follows it.
    /// False (and nothing added) if that needs a new run and the plan is full.
    mutating func add(start: UInt, byteCount: Int, stamp: UInt64) -> Bool {
        if count > 0, runs[count - 1].end == start {
            runs[count - 1].end = start &+ UInt(byteCount)
            runs[count - 1].stamp = min(runs[count - 1].stamp, stamp)
            return true
        }
        return append(DecommitRun(start: start, end: start &+ UInt(byteCount), stamp: stamp))
    }

    /// The index of the run holding `address`, searching from `from` on (runs are visited in
    /// the order they were added); `count` if none does.
    func run(holding address: UInt, from: Int) -> Int {
        var k = from
        while k < count, !(runs[k].start <= address && address < runs[k].end) { k += 1 }
        return k
    }
}

/// The pass every heap runs to give empty pages back to the system, in three phases:
/// 1. `choose`, under the heap's lock (it takes and releases it): the heap takes the pages old
///    enough out of reach of allocation (each heap marks them its own way), adds them to the
///    plan, and publishes the earliest empty time of the pages it leaves (`EmptyPageSignal`).
/// 2. without any lock allocation or free needs: one `decommit` call per run, in plan order,
///    stopping at the first failure.
/// 3. `record`, under the heap's lock again, with the index of the first run not decommitted:
///    decommitted pages become decommitted pages; the others go back to committed empty pages,
///    and their earliest stamp is lowered into the signal, so a later pass retries them.
/// The caller holds its decommit lock throughout, so passes of one heap do not overlap, and an
/// allocation that needs a page being decommitted waits for that lock.
enum DecommitPass {
    /// Runs the three phases over `plan` (reset first). Returns the bytes decommitted and the
    /// first failure, if any.
    static func run(
        _ plan: inout DecommitPlan,
        choose: (inout DecommitPlan) -> Void,
        decommit: (MemoryRange) throws(PasError) -> Void,
        record: (DecommitPlan, _ failedFrom: Int) -> Void
    ) -> (bytes: Int, failure: PasError?) {
        plan.reset()
        choose(&plan)
        var bytes = 0
        var failedFrom = plan.count
        var failure: PasError? = nil
        for i in 0 ..< plan.count {
            let range = plan.runs[i].range
            do {
                try decommit(range)
                bytes += range.byteCount
            } catch {
                failure = error
                failedFrom = i
                break
            }
        }
        if plan.count > 0 { record(plan, failedFrom) }
        return (bytes, failure)
    }
}
