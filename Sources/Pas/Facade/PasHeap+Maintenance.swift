import PasSystem

/// Scavenging, fork support, statistics and verification for `PasHeap` (slow paths).
extension PasHeap {
    /// A snapshot of the building blocks' accounting.
    public struct Statistics: Sendable {
        /// The segregated heap of small objects (16 KiB pages).
        public var small: SegregatedHeapStatistics
        /// The segregated heap of medium objects (128 KiB pages).
        public var medium: SegregatedHeapStatistics
        /// The bitfit heap of objects too large for the segregated heaps.
        public var marge: BitfitStatistics
        /// The large heap (objects beyond the bitfit heap's limit).
        public var large: LargeHeapStatistics
        /// Bytes of live objects (class sizes for segregated objects, granule-rounded sizes
        /// for the others).
        public var liveBytes: Int { small.bytesInUse + medium.bytesInUse + marge.liveBytes + large.liveBytes }
    }

    /// Statistics of every building block. Takes each heap's lock in turn. Thread-safe.
    public var statistics: Statistics {
        largeLock.lock()
        let l = large.statistics
        largeLock.unlock()
        return Statistics(small: small.statistics, medium: medium.statistics, marge: marge.statistics, large: l)
    }

    /// Gives the memory of pages that have been empty (segregated and bitfit pages) or free
    /// (whole large pages) for at least `olderThan` (`.zero`: all of them) back to the system.
    /// Returns the number of bytes decommitted. Best effort: a building block whose decommit
    /// fails keeps the pages it could not give back committed (a later call retries them), and
    /// the others still run, so the call never fails. The calling thread's cache is flushed
    /// first so that its empty pages count. Cost: a decommit pass of each building block (see
    /// theirs). Thread-safe.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) -> Int {
        small.flushThreadCache()
        medium.flushThreadCache()
        var bytes = 0
        bytes += (try? small.decommitEmptyPages(olderThan: age)) ?? 0
        bytes += (try? medium.decommitEmptyPages(olderThan: age)) ?? 0
        bytes += (try? marge.decommitEmptyPages(olderThan: age)) ?? 0
        largeLock.lock()
        bytes += (try? large.decommitEmptyPages(olderThan: age)) ?? 0
        largeLock.unlock()
        return bytes
    }

    /// Gives the calling thread's cached pages back and applies its pending remote frees.
    public func flushThreadCache() {
        small.flushThreadCache()
        medium.flushThreadCache()
    }

    /// Checks the invariants of every building block; throws the first problem found.
    public func verify() throws(PasError) {
        try small.verify()
        try medium.verify()
        if let problem = marge.verify().first {
            throw .corrupted(.verify, address: problem.pageAddress, reason: problem.description)
        }
        largeLock.lock()
        defer { largeLock.unlock() }
        try large.verify()
    }
}

/// Fork: `largeLock` is held across the fork (stage `facade`, before the building blocks' own
/// locks, which they register themselves).
extension PasHeap: ForkParticipant {
    /// Takes `largeLock`. Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) { largeLock.lock() }
    /// Releases `largeLock`, in the parent.
    public func parentAfterFork(_ stage: ForkStage) { largeLock.unlock() }
    /// Releases `largeLock`, in the child.
    public func childAfterFork(_ stage: ForkStage) { largeLock.unlock() }
}
