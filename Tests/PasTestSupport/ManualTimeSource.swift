import PasSystem
import Synchronization

/// A clock that moves only when a test says so.
public final class ManualTimeSource: TimeSource, @unchecked Sendable {
    private let now: Atomic<UInt64>

    public init(startingAt nanoseconds: UInt64 = 1_000_000_000) { now = Atomic(nanoseconds) }

    public func nowNanoseconds() -> UInt64 { now.load(ordering: .acquiring) }

    /// Moves time forward.
    public func advance(milliseconds: UInt64) { now.add(milliseconds * 1_000_000, ordering: .releasing) }
    public func advance(nanoseconds: UInt64) { now.add(nanoseconds, ordering: .releasing) }
}
