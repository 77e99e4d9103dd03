#if canImport(Glibc)
import Glibc
#endif

/// A monotonic clock in nanoseconds. The scavenger reads time through this protocol so
/// tests can make time pass on demand (see `PasTestSupport.ManualTimeSource`).
public protocol TimeSource: Sendable {
    /// Nanoseconds since an arbitrary fixed point; never decreases.
    func nowNanoseconds() -> UInt64
}

/// `CLOCK_MONOTONIC`.
public struct MonotonicTimeSource: TimeSource {
    public init() {}

    @inlinable
    public func nowNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
