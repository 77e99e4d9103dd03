#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// A mutex and one condition variable whose timed waits are measured on the monotonic clock,
/// for a thread that sleeps until a deadline or a wake-up (the scavenger).
///
/// Thread-safety: `lock`, `unlock`, `wait` and `broadcast` as for a POSIX mutex and condition
/// (`wait` and `broadcast` need the mutex); `resetInForkChild` only on a fork child's only
/// thread. Waiters sleep in the kernel. Not recursive.
package final class ConditionMutex: @unchecked Sendable {
    /// Invariant: allocated and initialised in `init`, destroyed in `deinit`; never moved.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// An unlocked mutex and its condition. Cost: two small allocations and their initialisation.
    package init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        initialiseMutexAndCondition()
    }

    /// Initialises `mutex`, and `condition` on the monotonic clock (the timed waits are
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

    /// In a fork child, on its only thread, with the mutex held by that thread (a prepare
    /// handler took it): releases it and initialises the mutex and the condition afresh, since
    /// their waiter bookkeeping may name threads of the parent. Neither is destroyed first:
    /// destroying a condition waits for its waiters, which here are threads that do not exist.
    package func resetInForkChild() {
        pthread_mutex_unlock(mutex)
        initialiseMutexAndCondition()
    }

    /// Takes the mutex, waiting in the kernel if another thread holds it.
    package func lock() { pthread_mutex_lock(mutex) }

    /// Releases the mutex (held by the calling thread).
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Releases the mutex, sleeps until `broadcast` (or a spurious wake-up), takes it again.
    package func wait() { pthread_cond_wait(condition, mutex) }

    /// As `wait()`, but for at most `nanoseconds` on the monotonic clock.
    package func wait(nanoseconds: UInt64) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let total = UInt64(ts.tv_nsec) &+ nanoseconds % 1_000_000_000
        ts.tv_sec += Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000)
        ts.tv_nsec = Int(total % 1_000_000_000)
        pthread_cond_timedwait(condition, mutex, &ts)
    }

    /// Wakes every thread waiting on the condition. Needs the mutex.
    package func broadcast() { pthread_cond_broadcast(condition) }
}
#endif
