/// A monotonic clock in nanoseconds. The scavenger reads time through this protocol so
/// tests can make time pass on demand (see `PasTestSupport.ManualTimeSource`).
public protocol TimeSource: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never decreases.
    func nowNanoseconds() -> UInt64
}

/// The system's monotonic clock (`CLOCK_MONOTONIC` on Linux).
///
/// Thread-safety: any thread. Cost of a reading: a vDSO call, no system call.
public struct MonotonicTimeSource: TimeSource {
    /// The system's monotonic clock. Free: the type holds no state.
    public init() {}

    /// Nanoseconds since an arbitrary fixed point (the precise reading).
    @inlinable
    public func nowNanoseconds() -> UInt64 { MonotonicClock.nanoseconds() }
}
