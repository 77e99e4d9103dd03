/// Durations as the nanosecond readings of a `TimeSource`, which page ages are kept in.
extension Duration {
    /// The duration in whole nanoseconds, clamped to `0 ... UInt64.max`.
    @inlinable
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (sum, o2) = whole.addingReportingOverflow(UInt64(max(0, attoseconds)) / 1_000_000_000)
        return o2 ? .max : sum
    }

    /// The latest empty time (nanoseconds of a time source whose reading is `now()`) of a page
    /// that has been empty for at least this duration: `UInt64.max` for a duration of zero or
    /// less (every empty page, also one stamped after the reading), nil when the source has not
    /// run this long (no page can be as old). Reads `now` only for a positive duration.
    @inlinable
    func emptySinceLimit(now: () -> UInt64) -> UInt64? {
        let age = clampedNanoseconds
        guard age > 0 else { return .max }
        let reading = now()
        return reading >= age ? reading - age : nil
    }
}
