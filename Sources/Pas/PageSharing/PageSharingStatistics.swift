import PasSystem

/// A snapshot of a `PageSharingPool`. A plain value.
public struct PageSharingStatistics: Sendable, CustomStringConvertible {
    /// Live registered participants.
    public var participantCount: Int
    /// Bytes of the participants' pages committed now.
    public var committedBytes: Int
    /// Bytes of the participants' pages decommitted now.
    public var decommittedBytes: Int
    /// Bytes the pool has decommitted since it was created (explicit and background passes).
    public var totalDecommittedBytes: Int
    /// Passes that asked at least one participant to decommit.
    public var passCount: Int
    /// Pool-clock time of the last such pass, or nil.
    public var lastScavengeTime: UInt64?
    /// Participant passes that failed (their pages stay committed and are retried).
    public var failureCount: Int
    /// The most recent failure, or nil.
    public var lastFailure: PasError?
    /// How many times the scavenger thread was started.
    public var scavengerThreadStarts: Int
    /// True while the scavenger thread exists.
    public var isScavengerRunning: Bool

    /// One line for logs: sizes in KiB, passes, failures, the thread's state.
    public var description: String {
        var s = "\(participantCount) participants, committed \(committedBytes >> 10) KiB, "
        s += "decommitted \(decommittedBytes >> 10) KiB (total \(totalDecommittedBytes >> 10) KiB in \(passCount) passes), "
        s += "\(failureCount) failures, thread \(isScavengerRunning ? "running" : "stopped") (\(scavengerThreadStarts) starts)"
        if let f = lastFailure { s += ", last failure \(f)" }
        return s
    }
}
