/// Fork: the decommit lock, then the heap lock, are held across the fork (stage `heap`).
extension LargeHeap: ForkParticipant {
    public func prepareForFork(_ stage: ForkStage) {
        decommitLock.lock()
        lock.lock()
    }

    public func parentAfterFork(_ stage: ForkStage) {
        lock.unlock()
        decommitLock.unlock()
    }

    public func childAfterFork(_ stage: ForkStage) { parentAfterFork(stage) }
}
