#if os(Linux) && canImport(Glibc)  // Selected by Platform/Platform.swift.
import Glibc
import CPasShim

/// Sleeping on and waking a 32-bit word (Linux futexes, process-private).
///
/// Thread-safety: any thread. Cost: one system call each.
enum FutexWord {
    /// Blocks while `*word == expected` (`FUTEX_WAIT_PRIVATE`). Returns early on a signal
    /// or when the word already differs; the caller re-checks the word.
    static func wait(_ word: UnsafeMutablePointer<UInt32>, whileEqualTo expected: UInt32) {
        _ = pas_shim_futex_wait(word, expected)
    }

    /// Wakes up to `count` threads blocked on `word` (`FUTEX_WAKE_PRIVATE`).
    static func wake(_ word: UnsafeMutablePointer<UInt32>, count: Int32) {
        _ = pas_shim_futex_wake(word, count)
    }
}

/// Threads of the operating system (POSIX threads), for the few that Pas starts itself.
///
/// Thread-safety: any thread.
package enum SystemThread {
    /// A thread's entry point: called with the context `startDetached` was given; its result
    /// is ignored.
    package typealias Entry = @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?

    /// Starts a detached thread (its resources are freed when it returns) that runs
    /// `entry(context)`. Returns 0, or the errno value (`EAGAIN`: no thread could be
    /// created) when no thread started. Cost: `pthread_create` (a stack mapping).
    package static func startDetached(_ entry: Entry, context: UnsafeMutableRawPointer) -> Int32 {
        var id = pthread_t()
        let rc = pthread_create(&id, nil, entry, context)
        if rc == 0 { pthread_detach(id) }
        return rc
    }

    /// Gives the processor to another runnable thread (`sched_yield`), for a spin that waits
    /// for a thread that may have been descheduled. Cost: one system call.
    package static func yield() {
        sched_yield()
    }

    /// An identifier of the calling thread (`pthread_self`), unique among the threads alive
    /// now and never 0. Cost: one thread-pointer load.
    @inlinable @inline(__always)
    package static var currentID: UInt { UInt(pthread_self()) }
}

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

/// One pointer per thread, kept in initial-exec thread-local storage: reading it is a single
/// `%fs`-relative load (x86-64) or `tpidr_el0`-relative load (arm64), with no call. A
/// destructor, once set, runs with the value at the exit of every thread that armed it.
///
/// The slot belongs to Pas's thread cache (`ThreadCache` in Pas); nothing else may use it.
/// Thread-safety: each thread sees only its own value.
@usableFromInline
package enum ThreadLocalSlot {
    /// The calling thread's value (nil until it stores one). Cost: one load, inlined.
    @inlinable @inline(__always)
    package static func load() -> UnsafeMutableRawPointer? { pas_shim_thread_slot_get() }

    /// Sets the calling thread's value. Cost: one store, inlined.
    @inlinable @inline(__always)
    package static func store(_ value: UnsafeMutableRawPointer?) { pas_shim_thread_slot_set(value) }

    /// Sets the destructor that runs with a thread's value when a thread that called
    /// `armDestructor` exits. Only the first call counts. Returns 0 or an errno value.
    /// Thread-safe; call once, before any thread arms it.
    package static func setDestructor(_ destructor: @escaping @convention(c) (UnsafeMutableRawPointer?) -> Void) -> Int32 {
        pas_shim_thread_slot_set_destructor(destructor)
    }

    /// Makes the destructor run, with `value`, when the calling thread exits (through a
    /// `pthread` key). Cost: `pthread_setspecific`; once per thread.
    package static func armDestructor(_ value: UnsafeMutableRawPointer) {
        pas_shim_thread_slot_arm_destructor(value)
    }
}

/// Making freshly written instructions visible to instruction fetch.
///
/// Thread-safety: any thread; it affects the calling thread's view (other threads run the
/// new code only after synchronising with the writer).
@usableFromInline
package enum InstructionCache {
    /// Flushes `range` from the caches between data writes and instruction fetch: a compiler
    /// fence on x86-64 (coherent instruction cache), cache maintenance on arm64
    /// (`__builtin___clear_cache`). Cost: nothing on x86-64; per cache line on arm64. Inlined.
    @inlinable @inline(__always)
    package static func flush(_ range: MemoryRange) {
        pas_shim_flush_icache(range.pointer, range.pointer + range.byteCount)
    }
}
#endif
