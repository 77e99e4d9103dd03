import PasSystem
import Synchronization

/// A one-byte test-and-test-and-set lock for critical sections of a few hundred
/// instructions at most: page bit updates, free-list splices, counters.
///
/// Rules: never hold it across a system call, an allocation of its own heap, or another
/// lock that may sleep. It spins, then yields the CPU, so a holder that is descheduled does
/// not burn the waiter's time slice. It is not fair and not recursive.
///
/// `~Copyable`: a lock has one address for its whole life. Store it in a class, or in
/// memory that stays put (`UnsafeMutablePointer<SpinLock>` initialised in place).
public struct SpinLock: ~Copyable, @unchecked Sendable {
    @usableFromInline let state = Atomic<UInt8>(0)

    @inlinable public init() {}

    /// Acquires the lock. Uncontended cost: one compare-and-swap.
    @inlinable @inline(__always)
    public func lock() {
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
        lockSlow()
    }

    /// Acquires the lock if it is free; returns whether it did.
    @inlinable @inline(__always)
    public func tryLock() -> Bool {
        state.load(ordering: .relaxed) == 0
            && state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    /// Releases the lock. Must be called by the holder.
    @inlinable @inline(__always)
    public func unlock() { state.store(0, ordering: .releasing) }

    /// Runs `body` with the lock held.
    @inlinable @inline(__always)
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// True if some thread holds the lock (a snapshot, for assertions).
    @inlinable public var isLocked: Bool { state.load(ordering: .relaxed) != 0 }

    @usableFromInline @inline(never)
    func lockSlow() {
        var spins = 0
        while true {
            if state.load(ordering: .relaxed) == 0,
               state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
                return
            }
            spins += 1
            if spins < 64 { continue }
            SystemThread.yield()
        }
    }
}
