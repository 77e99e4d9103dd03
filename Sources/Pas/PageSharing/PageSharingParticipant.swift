import PasSystem

/// A heap (or part of one) whose empty pages the page sharing pool may give back to the
/// system. Bitfit, large and segregated heaps conform: each keeps the time its pages became
/// empty and runs `decommitEmptyPages(emptySinceAtMost:)` passes.
///
/// Contract:
/// - Times are nanoseconds of the pool's `timeSource`.
/// - `earliestEmptyTime` is read lock-free by the scavenger. It is nil only if the participant
///   has no committed empty page; otherwise it is at most the empty time of every committed
///   empty page (an early value is allowed: a page may have been reused since). A pass of
///   `decommitEmptyPages(emptySinceAtMost:)` makes it exact again, so a false alarm costs one pass.
/// - When the value goes from nil to a time, the participant stores it with sequentially
///   consistent ordering and then calls `PageSharingPool.participantHasEmptyPages()` (which
///   starts the scavenger if it is not running). That is the whole notification path.
/// - `decommitEmptyPages(emptySinceAtMost:)` decommits every committed page that became empty
///   at `limit` or earlier, coalescing neighbours into single system calls, and returns the
///   bytes decommitted. It must not hold a lock an allocation fast path needs while it makes
///   system calls. On a failure, pages decommitted before it stay decommitted, the others stay
///   committed and empty (so a later pass retries them), and the error is thrown.
///
/// Thread-safety: every requirement may be called from any thread, concurrently with the
/// participant's allocations and frees.
public protocol PageSharingParticipant: AnyObject, Sendable {
    /// Lower bound of the times at which the committed empty pages became empty, or nil if
    /// there are none. Lock-free; one atomic load.
    var earliestEmptyTime: UInt64? { get }
    /// Decommits the committed pages that became empty at `limit` (nanoseconds of the pool's
    /// time source) or earlier. Returns the bytes decommitted.
    func decommitEmptyPages(emptySinceAtMost limit: UInt64) throws(PasError) -> Int
    /// Bytes of the participant's pages that are committed now (for pool statistics).
    var committedPageBytes: Int { get }
    /// Bytes of the participant's pages that are decommitted now (for pool statistics).
    var decommittedPageBytes: Int { get }
}

/// A participant's entry in a pool: returned by `PageSharingPool.register`, passed back to
/// `unregister`. Holds the participant weakly, so registering does not keep a heap alive.
public final class PageSharingRegistration: @unchecked Sendable {
    /// Written once in `init`; weak loads are thread-safe.
    weak var participant: (any PageSharingParticipant)?
    /// How long the participant's pages stay empty before the scavenger decommits them, or
    /// nil for the pool's delay. Immutable; thread-safe.
    public let delay: Duration?
    /// Pool-clock time before which the scavenger does not retry after a failed pass.
    /// Written only by a pass holding the pool's `passLock`.
    var retryAfter: UInt64 = 0

    init(_ participant: any PageSharingParticipant, delay: Duration?) {
        self.participant = participant
        self.delay = delay
    }
}
