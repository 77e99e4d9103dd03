#if canImport(Glibc)
import Glibc
#endif
import PasSystem
import Synchronization

/// A value guarded by a spin lock whose acquire and release ThreadSanitizer sees.
///
/// Tests that pass heap objects from one thread to another use this instead of
/// `Synchronization.Mutex`: Mutex locks and unlocks inside the uninstrumented
/// `libswiftSynchronization`, so under ThreadSanitizer a hand-off through it creates no
/// happens-before edge, and the receiving thread's first read of the object's page header is
/// reported as racing with the writes the sending thread made when it formatted the page. With
/// this lock, the lock word's acquiring exchange and releasing store are the edge.
///
/// Cost: one atomic exchange and one store per `withLock`; a waiter yields for its first 64
/// attempts, then sleeps 50 µs between attempts. Meant for short critical sections in tests.
public final class HandoffLock<Value>: @unchecked Sendable {
    private let locked = Atomic<Bool>(false)
    // Invariant: read and written only between a successful exchange of `locked` to true and the
    // releasing store of false, so one thread at a time.
    private var value: Value

    /// A lock guarding `value`.
    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        var attempts = 0
        while locked.exchange(true, ordering: .acquiring) {
            attempts += 1
            // Spin briefly, then sleep between attempts: spinning waiters on an oversubscribed
            // machine (the suite runs tests in parallel on two cores) starve the holder.
            if attempts < 64 { SystemThread.yield() } else { usleep(50) }
        }
        defer { locked.store(false, ordering: .releasing) }
        return try body(&value)
    }
}
