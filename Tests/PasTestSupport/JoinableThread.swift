#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A POSIX thread running one closure, joined with `join()`.
///
/// The tests start their threads with this type and the functions below (`runOnNewThread`,
/// `onThreads`, `withTimeout`) instead of Swift concurrency or Dispatch: a test may block its
/// threads on purpose (spinning on a flag, holding a lock), which must not happen on the few
/// threads of the cooperative pool, and every body gets a thread of its own even on a machine
/// with fewer cores, so bodies may wait for one another.
///
/// Starting a thread costs a `pthread_create` (tens of microseconds). The body is not required
/// to be `Sendable`: the caller answers for what it captures being safe to use on the new
/// thread (typically atomics, locks, or values handed to one thread at a time). `join()` is
/// called once, from one thread; the thread's exit, including its thread-local destructors
/// (which return a thread cache's pages), happens before `join()` returns.
public final class JoinableThread: @unchecked Sendable {
    private var id = pthread_t()
    private let body: () -> Void

    /// Starts `body` on a new thread. Traps if the thread cannot be created.
    public init(_ body: @escaping () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &id, nil,
            { raw in
                // Invariant: `raw` is the retained thread object, taken exactly once here.
                let me = Unmanaged<JoinableThread>.fromOpaque(raw!).takeRetainedValue()
                me.body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    /// Waits for the thread to exit. Call it once; not together with `detach()`.
    public func join() { pthread_join(id, nil) }

    /// Lets the thread run on unjoined; its resources go when it exits. Call it once; not
    /// together with `join()`.
    public func detach() { pthread_detach(id) }
}

/// Runs `body` on a new thread and waits for the thread to exit (including its thread-local
/// destructors). Costs one thread creation and join.
public func runOnNewThread(_ body: () -> Void) {
    // Invariant: the thread is joined before `withoutActuallyEscaping` returns, and the thread
    // object that holds `body` is released by then, so `body` does not outlive this call.
    withoutActuallyEscaping(body) { body in JoinableThread(body).join() }
}

/// Runs `body(i)` for `i in 0 ..< count` on that many new threads at once and waits for all.
/// Unlike `concurrentPerform`, every body gets its own thread even on a machine with fewer
/// cores, so bodies may wait for one another. Costs `count` thread creations and joins.
public func onThreads(_ count: Int, _ body: (Int) -> Void) {
    // Invariant: every thread is joined before `withoutActuallyEscaping` returns (see
    // `runOnNewThread`).
    withoutActuallyEscaping(body) { body in
        let threads = (0 ..< count).map { i in JoinableThread { body(i) } }
        for thread in threads { thread.join() }
    }
}

/// Runs `body` on a thread of its own and waits at most `seconds` for it, polling every 10 ms.
/// Returns its result, or nil if it did not finish in time (the thread is then detached and
/// left running, so `body` must capture nothing the caller frees).
public func withTimeout<Result>(seconds: Int, _ body: @escaping () -> Result) -> Result? {
    let outcome = TimedOutcome<Result>()
    let thread = JoinableThread {
        outcome.result = body()
        outcome.done.store(true, ordering: .releasing)
    }
    for _ in 0 ..< seconds * 100 {
        if outcome.done.load(ordering: .acquiring) {
            thread.join()
            return outcome.result
        }
        usleep(10_000)
    }
    thread.detach()
    return nil
}

/// What a `withTimeout` body returned, handed from its thread to the waiting one.
private final class TimedOutcome<Result>: @unchecked Sendable {
    /// Set with release ordering once `result` is written; `result` is read only after an
    /// acquiring load saw it set.
    let done = Atomic<Bool>(false)
    var result: Result? = nil
}
