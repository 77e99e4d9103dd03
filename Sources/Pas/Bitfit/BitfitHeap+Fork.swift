/// Fork: the directory's decommit lock, then its allocation lock, are held across the fork
/// (stage `heap`), so the child never inherits a page search or a decommit pass in progress.
extension BitfitHeap: ForkParticipant {
    /// Takes the decommit lock, then the allocation lock (waits for a pass or search in
    /// progress). Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) {
        directory.decommitLock.lock()
        directory.lock.lock()
    }

    /// Releases both locks, in the parent.
    public func parentAfterFork(_ stage: ForkStage) {
        directory.lock.unlock()
        directory.decommitLock.unlock()
    }

    /// Releases both locks, in the child (no thread state to reset).
    public func childAfterFork(_ stage: ForkStage) { parentAfterFork(stage) }
}
