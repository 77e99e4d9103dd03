import PasSystem

/// The scavenger thread's mutex, condition variable and flags.
///
/// `mutex` protects `stopRequested`, `enabled` and transitions of the pool's `threadState`
/// (stores happen under it). Lock order: a participant's locks → `mutex` → the pool's
/// `registryLock` (fork stage `poolState`; a fork child re-initialises it, see `resetInChild`). The thread never calls a participant while holding it, except for the
/// lock-free `earliestEmptyTime` loads of its exit check.
final class ScavengerThreadControl: @unchecked Sendable {
    /// The mutex and its condition, waited on with deadlines on the monotonic clock.
    let mutex = ConditionMutex()
    /// Set by `stopScavengerThread`; the thread exits at its next check. Under `mutex`.
    var stopRequested = false
    /// False while background scavenging is disabled. Under `mutex`.
    var enabled = true

    /// In a fork child, on its only thread, with `mutex` held by that thread (the prepare handler
    /// took it): releases it and re-initialises the mutex and the condition, whose waiter
    /// bookkeeping may name threads of the parent; clears the stop request.
    /// Both are initialised afresh without being destroyed (`ConditionMutex.resetInForkChild`).
    func resetInChild() {
        mutex.resetInForkChild()
        stopRequested = false
    }

    func lock() { mutex.lock() }
    func unlock() { mutex.unlock() }

    /// Waits on the condition for at most `nanoseconds` (real time). Needs `mutex`.
    func wait(nanoseconds: UInt64) { mutex.wait(nanoseconds: nanoseconds) }

    /// Waits on the condition until a broadcast (or a spurious wake-up). Needs `mutex`.
    func wait() { mutex.wait() }

    func broadcast() { mutex.broadcast() }
}

extension PageSharingPool {
    /// Shortest sleep between passes (100 µs), so that tiny delays cannot spin the thread.
    static var minimumSleepNanoseconds: UInt64 { 100_000 }

    /// Starts the scavenger thread unless it runs, is disabled, or the pool has none.
    /// Slow path of `participantHasEmptyPages()`; may be called with a participant's locks held.
    @usableFromInline
    func startScavengerIfNeeded() {
        guard usesBackgroundThread else { return }
        thread.lock()
        defer { thread.unlock() }
        guard thread.enabled, threadState.load(ordering: .relaxed) == Self.threadIdle else { return }
        thread.stopRequested = false
        threadState.store(Self.threadRunning, ordering: .sequentiallyConsistent)
        // The thread owns one reference to the pool until it exits.
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = SystemThread.startDetached(
            { raw in
                // Invariant: `raw` is the retained pool passed below; taken exactly once here.
                let pool = Unmanaged<PageSharingPool>.fromOpaque(raw!).takeRetainedValue()
                pool.scavengerMain()
                return nil
            }, context: context)
        if rc != 0 {
            threadState.store(Self.threadIdle, ordering: .sequentiallyConsistent)
            Unmanaged<PageSharingPool>.fromOpaque(context).release()
            withCounters { c in
                c.failureCount += 1
                c.lastFailure = .system(.allocate, errno: rc)
            }
            return
        }
        withCounters { $0.threadStarts += 1 }
    }

    /// The thread's loop: pass, then sleep until the next page is due (at most one period);
    /// exit after `idlePeriodsBeforeExit` passes in a row found no empty page, or on request.
    func scavengerMain() {
        var idlePasses = 0
        while true {
            let report = scavengeExpiredPages()
            idlePasses = report.nextDue == nil ? idlePasses + 1 : 0
            let now = timeSource.nowNanoseconds()
            let period = periodNanoseconds.load(ordering: .relaxed)
            var sleep = period
            if let due = report.nextDue { sleep = min(period, due > now ? due - now : 0) }
            sleep = max(sleep, Self.minimumSleepNanoseconds)

            // Participants looked at under the mutex die after it is released (see
            // `anyParticipantHasEmptyPages(keepingAlive:)`).
            var alive: [any PageSharingParticipant] = []
            defer { alive.removeAll() }
            thread.lock()
            if !thread.stopRequested && thread.enabled && idlePasses >= idlePeriodsBeforeExit {
                // Dekker with `participantHasEmptyPages`: publish "idle", then look at every
                // participant's empty time. A participant that published a time after this
                // look sees "idle" and starts a new thread.
                threadState.store(Self.threadIdle, ordering: .sequentiallyConsistent)
                if anyParticipantHasEmptyPages(keepingAlive: &alive) {
                    threadState.store(Self.threadRunning, ordering: .sequentiallyConsistent)
                    idlePasses = 0
                } else {
                    thread.broadcast()
                    thread.unlock()
                    return
                }
            }
            if !thread.stopRequested && thread.enabled { thread.wait(nanoseconds: sleep) }
            if thread.stopRequested || !thread.enabled {
                threadState.store(Self.threadIdle, ordering: .sequentiallyConsistent)
                thread.broadcast()
                thread.unlock()
                return
            }
            thread.unlock()
        }
    }

    /// Stops the scavenger thread if it runs and waits until it has finished its pass. It
    /// starts again when a participant next reports empty pages. Do not call from a
    /// participant's callbacks.
    public func stopScavengerThread() {
        thread.lock()
        if threadState.load(ordering: .relaxed) == Self.threadRunning {
            thread.stopRequested = true
            thread.broadcast()
            while threadState.load(ordering: .relaxed) == Self.threadRunning {
                thread.wait()
            }
        }
        thread.unlock()
    }

    /// Whether empty pages start the scavenger thread. Turning it off stops a running thread
    /// (and waits for it); turning it on starts one if pages wait.
    public var isBackgroundScavengingEnabled: Bool {
        get {
            thread.lock()
            defer { thread.unlock() }
            return thread.enabled
        }
        set {
            thread.lock()
            thread.enabled = newValue
            thread.unlock()
            if newValue {
                if anyParticipantHasEmptyPages() { startScavengerIfNeeded() }
            } else {
                stopScavengerThread()
            }
        }
    }
}
