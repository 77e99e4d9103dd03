/// Fork: the directory's decommit lock, then its allocation lock, are held across the fork
/// (stage `heap`), so the child never inherits a page search or a decommit pass in progress.
extension BitfitHeap: ForkParticipant {
    public func prepareForFork(_ stage: ForkStage) {
        directory.decommitLock.lock()
        directory.lock.lock()
    }

    public func parentAfterFork(_ stage: ForkStage) {
        directory.lock.unlock()
        directory.decommitLock.unlock()
    }

    public func childAfterFork(_ stage: ForkStage) { parentAfterFork(stage) }
}
