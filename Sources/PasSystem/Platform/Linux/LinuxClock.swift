#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// Readings of the system's monotonic clock, in nanoseconds since an arbitrary fixed point
/// (`clock_gettime`). Never decreases; not affected by changes to the wall clock.
///
/// Thread-safety: any thread. Cost: a vDSO call (no system call), tens of nanoseconds for
/// `nanoseconds()`, a few for `coarseNanoseconds()`.
@usableFromInline
package enum MonotonicClock {
    /// The precise reading (`CLOCK_MONOTONIC`).
    @inlinable
    package static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The same clock as of its last tick (`CLOCK_MONOTONIC_COARSE`): at most a few
    /// milliseconds behind `nanoseconds()`, never ahead, at a fraction of its cost. For time
    /// stamps taken often where a tick of error does not matter.
    @inlinable @inline(__always)
    package static func coarseNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
#endif
