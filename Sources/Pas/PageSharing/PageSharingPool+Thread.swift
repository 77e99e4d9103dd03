#if canImport(Glibc)
import Glibc
#endif
import PasSystem

/// The scavenger thread's mutex, condition variable and flags.
///
/// `mutex` protects `stopRequested`, `enabled` and transitions of the pool's `threadState`
/// (stores happen under it). Lock order: a participant's locks → `mutex` → the pool's
/// `registryLock` (fork stage `poolState`; a fork child re-initialises it, see `resetInChild`). The thread never calls a participant while holding it, except for the
/// lock-free `earliestEmptyTime` loads of its exit check.
final class ScavengerThreadControl: @unchecked Sendable {
    /// Invariant: allocated and initialised in `init`, destroyed in `deinit`; never moved.
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Set by `stopScavengerThread`; the thread exits at its next check. Under `mutex`.
    var stopRequested = false
    /// False while background scavenging is disabled. Under `mutex`.
    var enabled = true

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        initialiseMutexAndCondition()
    }

    /// Initialises `mutex`, and `condition` on the monotonic clock (the scavenger's waits are
    /// deadlines on that clock).
    private func initialiseMutexAndCondition() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// In a fork child, on its only thread, with `mutex` held by that thread (the prepare handler
    /// took it): releases it and re-initialises the mutex and the condition, whose waiter
    /// bookkeeping may name threads of the parent; clears the stop request.
    /// Both are initialised afresh without being destroyed: destroying a condition waits for
    /// its waiters, which here are threads that do not exist.
    func resetInChild() {
        pthread_mutex_unlock(mutex)
        initialiseMutexAndCondition()
        stopRequested = false
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits on the condition for at most `nanoseconds` (real time). Needs `mutex`.
    func wait(nanoseconds: UInt64) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let total = UInt64(ts.tv_nsec) &+ nanoseconds % 1_000_000_000
        ts.tv_sec += Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000)
        ts.tv_nsec = Int(total % 1_000_000_000)
        pthread_cond_timedwait(condition, mutex, &ts)
    }

    func broadcast() { pthread_cond_broadcast(condition) }
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
        var id = pthread_t()
        let rc = pthread_create(&id, nil, { raw in
            // Invariant: `raw` is the retained pool passed below; taken exactly once here.
            let pool = Unmanaged<PageSharingPool>.fromOpaque(raw!).takeRetainedValue()
            pool.scavengerMain()
            return nil
        }, context)
        if rc != 0 {
            threadState.store(Self.threadIdle, ordering: .sequentiallyConsistent)
            Unmanaged<PageSharingPool>.fromOpaque(context).release()
            withCounters { c in
                c.failureCount += 1
                c.lastFailure = .system(.allocate, errno: rc)
            }
            return
        }
        pthread_detach(id)
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
                pthread_cond_wait(thread.condition, thread.mutex)
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
