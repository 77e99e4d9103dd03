import Synchronization

/// The page source backed by the kernel's private anonymous memory.
///
/// It remembers the live reservations so that a range outside them, or a double release,
/// is reported as a typed error instead of unmapping someone else's memory.
///
/// Thread-safety: all methods may be called concurrently.
public final class SystemPageSource: PageSource, @unchecked Sendable {
    /// The process-wide instance.
    public static let shared = SystemPageSource()

    /// The kernel's page size (`SystemInfo.pageSize`).
    public let pageSize: Int = SystemInfo.pageSize

    /// Protects `list`: the live reserved ranges, sorted by start address, never
    /// overlapping. Held only for bookkeeping, never across a system call that may block for long.
    /// Leaf lock: nothing else is taken while it is held; taken while a chunk source's lock is
    /// held, so fork takes it after those (Pas's fork stage `pageSource`).
    private let lock = FutexLock()
    private var list: [MemoryRange] = []

    /// A source with no reservation. Use `shared` unless reservations must be counted apart.
    public init() {}

    /// Reserves address space (`VirtualMemory.reserve`) and records it. Cost: one to three
    /// system calls and an insertion under the list's lock.
    public func reserve(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        guard byteCount > 0 else { throw .invalidSize(.reserve, byteCount) }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.reserve, alignment) }
        let range = try VirtualMemory.reserve(byteCount: byteCount, alignment: alignment)
        lock.withLock {
            let index = Self.insertionIndex(of: range.start, in: list)
            list.insert(range, at: index)
        }
        return range
    }

    /// Makes `range` (inside one reservation) accessible with `protection`. Cost: a binary
    /// search under the lock and one system call.
    public func commit(_ range: MemoryRange, protection: Protection) throws(PasError) {
        try checkInsideReservation(range, .commit)
        try VirtualMemory.commit(range, protection: protection)
    }

    /// Returns the pages of `range` (inside one reservation) to the kernel; it stays
    /// accessible and reads zero. Cost: a binary search under the lock and one system call.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        try checkInsideReservation(range, .decommit)
        try VirtualMemory.decommit(range)
    }

    /// Changes the access rights of `range` (inside one reservation). Cost: a binary search
    /// under the lock and one system call.
    public func protect(_ range: MemoryRange, to protection: Protection) throws(PasError) {
        try checkInsideReservation(range, .protect)
        try VirtualMemory.protect(range, to: protection)
    }

    /// Unmaps a whole reservation and forgets it; a second release is `.notReserved`. Cost: a
    /// removal under the lock and one system call.
    public func release(_ range: MemoryRange) throws(PasError) {
        try validate(range, for: .release)
        let found = lock.withLock { () -> Bool in
            let index = Self.insertionIndex(of: range.start, in: list)
            guard index < list.count, list[index] == range else { return false }
            list.remove(at: index)
            return true
        }
        guard found else { throw .notReserved(.release, address: range.start) }
        try VirtualMemory.release(range)
    }

    /// Number of live reservations (for tests and statistics).
    public var reservationCount: Int { lock.withLock { list.count } }

    /// Takes the reservation list's lock so that a forked child does not inherit it held by a
    /// thread it does not have; `resumeAfterFork()` releases it. For fork handlers only (Pas
    /// registers every instance its chunk sources use).
    public func holdForFork() { lock.lock() }

    /// Releases the lock `holdForFork()` took (in the parent or in the child).
    public func resumeAfterFork() { lock.unlock() }

    private func checkInsideReservation(_ range: MemoryRange, _ op: PasOperation) throws(PasError) {
        try validate(range, for: op)
        let inside = lock.withLock { () -> Bool in
            // The candidate is the last reservation starting at or below range.start.
            let index = Self.insertionIndex(of: range.start &+ 1, in: list)
            guard index > 0 else { return false }
            return list[index - 1].contains(range)
        }
        guard inside else { throw .outsideReservation(op, address: range.start, byteCount: range.byteCount) }
    }

    /// First index whose start is >= `address` (binary search).
    private static func insertionIndex(of address: UInt, in list: [MemoryRange]) -> Int {
        var low = 0, high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid].start < address { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
