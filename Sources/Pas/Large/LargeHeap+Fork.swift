/// Fork: the decommit lock, then the heap lock, are held across the fork (stage `heap`).
extension LargeHeap: ForkParticipant {
    /// Takes the decommit lock, then the heap lock. Called by `ForkRegistry` on the forking
    /// thread.
    public func prepareForFork(_ stage: ForkStage) {
        decommitLock.lock()
        lock.lock()
    }

    /// Releases both locks, in the parent.
    public func parentAfterFork(_ stage: ForkStage) {
        lock.unlock()
        decommitLock.unlock()
    }

    /// Releases both locks, in the child (no thread state to reset).
    public func childAfterFork(_ stage: ForkStage) { parentAfterFork(stage) }
}
