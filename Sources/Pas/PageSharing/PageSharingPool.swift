import PasSystem
import Synchronization

/// The pool every heap reports its empty pages to, and the scavenger that gives pages back
/// to the system once they have been empty for longer than a delay (default 300 ms).
///
/// Participants (`PageSharingParticipant`: bitfit, large and segregated heaps) register once,
/// when they are created. A participant publishes the earliest time one of its committed
/// pages became empty as an atomic word; when that word goes from
/// "none" to a time it calls `participantHasEmptyPages()`, which is one atomic load while
/// the scavenger runs and starts the scavenger thread otherwise. Frees that leave a page
/// empty while the participant already has empty pages cost nothing more.
///
/// The scavenger thread (see `PageSharingPool+Thread.swift`) wakes every `period` (default
/// 100 ms) or sooner when a page becomes due, asks each participant whose earliest empty
/// time is older than its delay to decommit its old empty pages, and exits after a few idle
/// periods when no participant has empty pages left. `scavenge()` decommits everything
/// empty now; `scavengeExpiredPages()` runs one scavenger pass on the calling thread (for
/// tests with a manual clock and for runtimes with their own idle hook).
///
/// Locks, in the order they may be taken:
/// 1. `passLock`: serialises scavenger passes; taken with no other lock held, and the only
///    pool lock held while participants are called;
/// 2. a participant's own locks (a heap's decommit lock, then its allocation lock); a heap
///    may call `participantHasEmptyPages()` while holding them;
/// 3. `thread.mutex` (see `PageSharingPool+Thread.swift`): the thread's life cycle;
/// 4. `registryLock`: the list of registrations;
/// 5. `countersLock`, a leaf. The registry is copied out before participants are asked
/// anything, so no participant call runs under `registryLock`.
///
/// Fork: the pool is a `ForkParticipant`. `passLock` is taken at the `scavengerPass` stage
/// (before every heap's locks), the thread mutex, `registryLock` and `countersLock` at the
/// `poolState` stage (after them). The child has no scavenger thread: its state is reset to
/// idle (stop request cleared, mutex and condition re-initialised), so the child's first empty
/// page starts a thread of its own. The reference the parent's thread held on the pool is
/// not released in the child (a pool whose thread ran at the fork lives as long as the child).
///
/// Thread-safety: every method may be called from any thread.
public final class PageSharingPool: @unchecked Sendable {
    /// The process-wide pool with the monotonic clock. Its delay is 300 ms unless the
    /// environment variable `PAS_SCAVENGE_DELAY_MS` says otherwise; change it with `delay`.
    public static let shared = PageSharingPool(delay: .milliseconds(environmentDelayMilliseconds ?? 300))

    /// The clock the pool and its participants stamp empty pages with.
    public let timeSource: any TimeSource
    /// Whether a background thread scavenges; false for pools that tests drive by hand.
    public let usesBackgroundThread: Bool
    /// Idle periods (no participant with empty pages) after which the thread exits.
    public let idlePeriodsBeforeExit: Int

    @usableFromInline let delayNanoseconds: Atomic<UInt64>
    @usableFromInline let periodNanoseconds: Atomic<UInt64>

    /// Protects `registrations`. Taken after the thread mutex, before `countersLock`; nothing
    /// else is taken while it is held (fork stage `poolState`).
    let registryLock = FutexLock()
    private var registrations: [PageSharingRegistration] = []
    /// Serialises scavenger passes (the thread's and explicit ones) and protects each
    /// registration's `retryAfter`. Held while calling participants; taken with no other
    /// pool lock held (fork stage `scavengerPass`, before every heap lock).
    let passLock = FutexLock()
    /// Protects `counterValues`, the statistics counters. Leaf lock (fork stage `poolState`,
    /// last of the pool's).
    let countersLock = FutexLock()
    private var counterValues = Counters()

    /// Runs `body` on the registration list under `registryLock`.
    func withRegistry<R>(_ body: (inout [PageSharingRegistration]) -> R) -> R {
        registryLock.lock()
        defer { registryLock.unlock() }
        return body(&registrations)
    }

    /// Runs `body` on the counters under `countersLock`.
    func withCounters<R>(_ body: (inout Counters) -> R) -> R {
        countersLock.lock()
        defer { countersLock.unlock() }
        return body(&counterValues)
    }

    struct Counters {
        var totalDecommittedBytes = 0
        var passCount = 0
        var lastScavengeTime: UInt64? = nil
        var failureCount = 0
        var lastFailure: PasError? = nil
        var threadStarts = 0
    }

    /// State of the scavenger thread: `threadIdle` (none) or `threadRunning`. Written under
    /// `threadMutex` with sequentially consistent stores; read lock-free by notifications.
    @usableFromInline let threadState = Atomic<Int>(0)
    @usableFromInline static var threadIdle: Int { 0 }
    @usableFromInline static var threadRunning: Int { 1 }
    /// The thread's mutex, condition and flags (see `PageSharingPool+Thread.swift`).
    let thread: ScavengerThreadControl

    /// Creates a pool.
    /// - `timeSource`: the clock (a `ManualTimeSource` in tests).
    /// - `delay`: how long a page must stay empty before it is decommitted.
    /// - `period`: the longest the scavenger sleeps between passes while there is work.
    /// - `usesBackgroundThread`: false to scavenge only through explicit calls.
    /// - `idlePeriodsBeforeExit`: idle passes before the thread exits (at least 1).
    /// Cost: allocates the thread's mutex and condition; starts no thread.
    public init(
        timeSource: any TimeSource = MonotonicTimeSource(), delay: Duration = .milliseconds(300),
        period: Duration = .milliseconds(100), usesBackgroundThread: Bool = true,
        idlePeriodsBeforeExit: Int = 3
    ) {
        self.timeSource = timeSource
        self.usesBackgroundThread = usesBackgroundThread
        self.idlePeriodsBeforeExit = max(1, idlePeriodsBeforeExit)
        delayNanoseconds = Atomic(delay.clampedNanoseconds)
        periodNanoseconds = Atomic(max(1, period.clampedNanoseconds))
        thread = ScavengerThreadControl()
        ForkRegistry.register(self, stage: .scavengerPass)
        ForkRegistry.register(self, stage: .poolState)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .scavengerPass)
        ForkRegistry.unregister(self, stage: .poolState)
    }

    /// The pool's delay: pages empty for longer are decommitted (participants may have their
    /// own). Setting it takes effect at the next pass. Lock-free.
    public var delay: Duration {
        get { .nanoseconds(Int64(clamping: delayNanoseconds.load(ordering: .relaxed))) }
        set { delayNanoseconds.store(newValue.clampedNanoseconds, ordering: .relaxed) }
    }

    /// The longest the scavenger sleeps between passes while pages wait. Lock-free.
    public var period: Duration {
        get { .nanoseconds(Int64(clamping: periodNanoseconds.load(ordering: .relaxed))) }
        set { periodNanoseconds.store(max(1, newValue.clampedNanoseconds), ordering: .relaxed) }
    }

    static var environmentDelayMilliseconds: Int64? {
        guard let text = ProcessEnvironment.value(of: "PAS_SCAVENGE_DELAY_MS") else { return nil }
        return Int64(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    // MARK: Registration

    /// Registers `participant` (held weakly) with its own `delay`, or the pool's if nil.
    /// Cost: appends to a list under a lock; call once per participant, at creation.
    public func register(_ participant: any PageSharingParticipant, delay: Duration? = nil) -> PageSharingRegistration {
        let r = PageSharingRegistration(participant, delay: delay)
        withRegistry { $0.append(r) }
        if participant.earliestEmptyTime != nil { participantHasEmptyPages() }
        return r
    }

    /// Removes a registration (a participant calls this from its `deinit`).
    public func unregister(_ registration: PageSharingRegistration) {
        withRegistry { list in list.removeAll { $0 === registration } }
    }

    /// Number of registered participants (including ones already deallocated but not yet
    /// unregistered).
    public var participantCount: Int { withRegistry { $0.count } }

    // MARK: Notification

    /// A participant's earliest empty time just went from none to a time. Starts the
    /// scavenger thread if it is not running. Cost: one atomic load while it runs.
    @inlinable
    public func participantHasEmptyPages() {
        if threadState.load(ordering: .sequentiallyConsistent) == Self.threadRunning { return }
        startScavengerIfNeeded()
    }

    // MARK: Passes

    /// What one pass did.
    public struct PassReport: Sendable {
        /// Bytes decommitted.
        public var decommittedBytes = 0
        /// Failures, one per participant that threw.
        public var failures: [PasError] = []
        /// Pool-clock time at which the next page becomes due, or nil if no participant has
        /// empty pages.
        public var nextDue: UInt64? = nil
    }

    /// Decommits every empty page of every participant now, whatever its age. Failures are
    /// counted in `statistics` and returned; the pages concerned stay committed and are
    /// retried by later passes. Cost: one pass over every participant's pages.
    @discardableResult
    public func scavenge() -> PassReport { runPass(everything: true) }

    /// One scavenger pass on the calling thread: decommits the pages that have been empty
    /// for longer than their participant's delay. The background thread runs exactly this.
    @discardableResult
    public func scavengeExpiredPages() -> PassReport { runPass(everything: false) }

    func runPass(everything: Bool) -> PassReport {
        var report = PassReport()
        // Strong references for the pass; released after `passLock` (a participant's deinit
        // may run here and unregister).
        var live: [(PageSharingRegistration, any PageSharingParticipant)] = []
        for r in withRegistry({ $0 }) { if let p = r.participant { live.append((r, p)) } }
        passLock.lock()
        let now = timeSource.nowNanoseconds()
        let poolDelay = delayNanoseconds.load(ordering: .relaxed)
        let retryGap = max(poolDelay, periodNanoseconds.load(ordering: .relaxed))
        var attempted = false
        for (r, p) in live {
            let delay = r.delay?.clampedNanoseconds ?? poolDelay
            let deadline: UInt64 = everything ? .max : (now >= delay ? now - delay : 0)
            if let earliest = p.earliestEmptyTime ?? (everything ? 0 : nil),
                everything || (earliest <= deadline && now >= r.retryAfter)
            {
                attempted = true
                do {
                    report.decommittedBytes += try p.decommitEmptyPages(emptySinceAtMost: deadline)
                    r.retryAfter = 0
                } catch {
                    report.failures.append(error)
                    r.retryAfter = now &+ retryGap
                }
            }
            if let earliest = p.earliestEmptyTime {
                let (sum, overflow) = earliest.addingReportingOverflow(delay)
                let due = max(overflow ? .max : sum, r.retryAfter)
                report.nextDue = min(report.nextDue ?? .max, due)
            }
        }
        passLock.unlock()
        if attempted {
            withCounters { c in
                c.totalDecommittedBytes += report.decommittedBytes
                c.passCount += 1
                c.lastScavengeTime = now
                c.failureCount += report.failures.count
                if let last = report.failures.last { c.lastFailure = last }
            }
        }
        return report
    }

    /// True if some live participant reports empty pages. The list is copied out first: a
    /// participant released here may run its `deinit`, which unregisters.
    func anyParticipantHasEmptyPages() -> Bool {
        var alive: [any PageSharingParticipant] = []
        return anyParticipantHasEmptyPages(keepingAlive: &alive)
    }

    /// The same, for a caller holding a lock: every participant looked at is appended to
    /// `alive`, so none is deinitialised here (its `deinit` unregisters, which takes the pool's
    /// and the fork registry's locks); the caller drops `alive` after releasing its lock.
    func anyParticipantHasEmptyPages(keepingAlive alive: inout [any PageSharingParticipant]) -> Bool {
        for r in withRegistry({ $0 }) {
            guard let p = r.participant else { continue }
            alive.append(p)
            if p.earliestEmptyTime != nil { return true }
        }
        return false
    }

    // MARK: Statistics

    /// A snapshot of the pool: committed and decommitted bytes of its participants, what the
    /// scavenger did, and its thread. Cost: asks every participant for its byte counts.
    public var statistics: PageSharingStatistics {
        var committed = 0, decommitted = 0, count = 0
        for r in withRegistry({ $0 }) {
            guard let p = r.participant else { continue }
            count += 1
            committed += p.committedPageBytes
            decommitted += p.decommittedPageBytes
        }
        let c = withCounters { $0 }
        return PageSharingStatistics(
            participantCount: count, committedBytes: committed, decommittedBytes: decommitted,
            totalDecommittedBytes: c.totalDecommittedBytes, passCount: c.passCount,
            lastScavengeTime: c.lastScavengeTime, failureCount: c.failureCount, lastFailure: c.lastFailure,
            scavengerThreadStarts: c.threadStarts, isScavengerRunning: isScavengerRunning)
    }

    /// True while the scavenger thread exists. Lock-free.
    public var isScavengerRunning: Bool { threadState.load(ordering: .sequentiallyConsistent) == Self.threadRunning }
}
