#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

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
#endif
