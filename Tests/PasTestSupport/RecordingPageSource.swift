import PasSystem
import Synchronization

/// A page source that forwards to the system (or only simulates, see `simulated`) and
/// records every operation, and fails an operation on demand.
///
/// Thread-safety: all methods may be called concurrently.
public final class RecordingPageSource: PageSource, @unchecked Sendable {
    /// One recorded call.
    public enum Event: Equatable, Sendable {
        /// `reserve` returned this range.
        case reserve(MemoryRange)
        /// `commit` of this range with this protection.
        case commit(MemoryRange, Protection)
        /// `decommit` of this range.
        case decommit(MemoryRange)
        /// `protect` of this range to this protection.
        case protect(MemoryRange, Protection)
        /// `release` of this range.
        case release(MemoryRange)
    }

    /// The backing source's page size.
    public let pageSize: Int
    private let backing: SystemPageSource

    private struct State {
        var events: [Event] = []
        /// Operations that fail: the next `count` calls of `op` fail with `errno`.
        var failures: [PasOperation: (count: Int, errno: Int32)] = [:]
    }
    /// Protects the recorded events and the failure plan. Leaf lock.
    private let state = Mutex(State())

    /// A recorder in front of `backing`, with nothing recorded and no failure planned.
    public init(backing: SystemPageSource = SystemPageSource()) {
        self.backing = backing
        self.pageSize = backing.pageSize
    }

    /// Every operation so far, in order.
    public var events: [Event] { state.withLock { $0.events } }

    /// Forgets the recorded events.
    public func clearEvents() { state.withLock { $0.events.removeAll() } }

    /// Makes the next `count` calls of `operation` fail with `errno` (without reaching the system).
    public func failNext(_ operation: PasOperation, count: Int = 1, errno: Int32 = 12) {
        state.withLock { $0.failures[operation] = (count, errno) }
    }

    /// Bytes decommitted so far.
    public var decommittedBytes: Int {
        events.reduce(0) { if case let .decommit(r) = $1 { return $0 + r.byteCount } else { return $0 } }
    }

    private func injectFailure(_ op: PasOperation) throws(PasError) {
        let errno: Int32? = state.withLock { s in
            guard let f = s.failures[op], f.count > 0 else { return nil }
            s.failures[op] = f.count == 1 ? nil : (f.count - 1, f.errno)
            return f.errno
        }
        if let errno { throw .system(op, errno: errno) }
    }

    private func record(_ e: Event) { state.withLock { $0.events.append(e) } }

    /// Reserves through the backing source and records the range, or fails as planned.
    public func reserve(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        try injectFailure(.reserve)
        let r = try backing.reserve(byteCount: byteCount, alignment: alignment)
        record(.reserve(r))
        return r
    }

    /// Commits through the backing source and records it, or fails as planned.
    public func commit(_ range: MemoryRange, protection: Protection) throws(PasError) {
        try injectFailure(.commit)
        try backing.commit(range, protection: protection)
        record(.commit(range, protection))
    }

    /// Decommits through the backing source and records it, or fails as planned.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        try injectFailure(.decommit)
        try backing.decommit(range)
        record(.decommit(range))
    }

    /// Changes protection through the backing source and records it, or fails as planned.
    public func protect(_ range: MemoryRange, to protection: Protection) throws(PasError) {
        try injectFailure(.protect)
        try backing.protect(range, to: protection)
        record(.protect(range, protection))
    }

    /// Releases through the backing source and records it, or fails as planned.
    public func release(_ range: MemoryRange) throws(PasError) {
        try injectFailure(.release)
        try backing.release(range)
        record(.release(range))
    }
}
