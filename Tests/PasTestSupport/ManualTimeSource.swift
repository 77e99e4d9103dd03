import PasSystem
import Synchronization

/// A clock that moves only when a test says so.
///
/// Thread-safety: any thread may read or advance it; the time is one atomic.
public final class ManualTimeSource: TimeSource, @unchecked Sendable {
    private let now: Atomic<UInt64>

    /// A clock that reads `nanoseconds` until it is advanced.
    public init(startingAt nanoseconds: UInt64 = 1_000_000_000) { now = Atomic(nanoseconds) }

    /// The current manual time, in nanoseconds. One atomic load.
    public func nowNanoseconds() -> UInt64 { now.load(ordering: .acquiring) }

    /// Moves time forward by `milliseconds`.
    public func advance(milliseconds: UInt64) { now.add(milliseconds * 1_000_000, ordering: .releasing) }
    /// Moves time forward by `nanoseconds`.
    public func advance(nanoseconds: UInt64) { now.add(nanoseconds, ordering: .releasing) }
}
