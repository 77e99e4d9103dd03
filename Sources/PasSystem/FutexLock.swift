import Synchronization

/// A lock that puts waiters to sleep in the kernel (a futex), for critical sections that may
/// be long: committing or decommitting pages, growing a heap, scavenging.
///
/// Uncontended acquire and release are one atomic each and never enter the kernel. It is
/// not recursive and not fair. The state word is 0 (free), 1 (held) or 2 (held, with waiters).
///
/// `~Copyable`: store it in a class or in memory that stays put.
public struct FutexLock: ~Copyable, @unchecked Sendable {
    @usableFromInline let state = Atomic<UInt32>(0)

    /// A free lock. Free: no system call, no allocation.
    @inlinable public init() {}

    /// Takes the lock, sleeping in the kernel while another thread holds it (after a short
    /// spin). Uncontended: one compare-and-swap, inlined.
    @inlinable @inline(__always)
    public func lock() {
        if state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
        lockSlow()
    }

    /// Takes the lock if it is free and returns true; returns false at once otherwise.
    /// Cost: one compare-and-swap, inlined.
    @inlinable @inline(__always)
    public func tryLock() -> Bool {
        state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
    }

    /// Releases the lock (held by the calling thread) and wakes one waiter if there is one.
    /// Cost: one atomic exchange, plus one system call when a thread waits.
    @inlinable @inline(__always)
    public func unlock() {
        if state.exchange(0, ordering: .releasing) == 2 { wake() }
    }

    /// Runs `body` with the lock held and releases it afterwards, also when `body` throws.
    /// Cost: `lock()` plus `unlock()`.
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
        for _ in 0 ..< 100 {
            if state.load(ordering: .relaxed) == 0,
                state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged
            {
                return
            }
        }
        // Announce a waiter (2) and sleep until the word changes.
        while state.exchange(2, ordering: .acquiring) != 0 {
            withWord { FutexWord.wait($0, whileEqualTo: 2) }
        }
    }

    /// Runs the lock's slow-path code once (a wake with no waiter), so that an unoptimised
    /// build has instantiated the generic metadata that code needs before a fork handler takes
    /// a contended lock: instantiating metadata takes the Swift runtime's locks and may call
    /// malloc, which a fork handler must not do with heap locks held. Cost: one system call.
    /// Thread-safety: any thread.
    public static func prepareSlowPath() {
        let lock = FutexLock()
        lock.wake()
    }

    @usableFromInline @inline(never)
    func wake() { withWord { FutexWord.wake($0, count: 1) } }

    /// The address of the state word, for the futex system call.
    /// Invariant: `self` is not copyable, so the atomic has a stable address while borrowed.
    private func withWord(_ body: (UnsafeMutablePointer<UInt32>) -> Void) {
        withUnsafePointer(to: state) { p in
            body(UnsafeMutableRawPointer(mutating: p).assumingMemoryBound(to: UInt32.self))
        }
    }
}
