import PasSystem

/// Scavenging, fork support, statistics and verification for `PasHeap` (slow paths).
extension PasHeap {
    /// A snapshot of the building blocks' accounting.
    public struct Statistics: Sendable {
        public var small: SegregatedHeapStatistics
        public var medium: SegregatedHeapStatistics
        public var marge: BitfitStatistics
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

    /// Gives the memory of empty pages and whole free large pages back to the system.
    /// `idleFor` (nanoseconds): only segregated pages empty for at least that long are
    /// decommitted (0: all). Returns the number of bytes decommitted. The calling thread's
    /// cache is flushed first so that its empty pages count. Thread-safe.
    @discardableResult
    public func scavenge(idleFor: UInt64 = 0) -> Int {
        small.flushThreadCache()
        medium.flushThreadCache()
        var bytes = 0
        bytes += (try? small.decommitEmptyPages(idleFor: idleFor)) ?? 0
        bytes += (try? medium.decommitEmptyPages(idleFor: idleFor)) ?? 0
        bytes += (try? marge.decommitEmptyPages()) ?? 0
        largeLock.lock()
        bytes += (try? large.decommitFreePages()) ?? 0
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
    public func prepareForFork(_ stage: ForkStage) { largeLock.lock() }
    public func parentAfterFork(_ stage: ForkStage) { largeLock.unlock() }
    public func childAfterFork(_ stage: ForkStage) { largeLock.unlock() }
}
