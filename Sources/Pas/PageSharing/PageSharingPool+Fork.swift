/// The pool's fork handlers (see the lock order in `PageSharingPool`).
extension PageSharingPool: ForkParticipant {
    /// Takes the pass lock (stage `scavengerPass`) or the thread, registry and counters locks
    /// (stage `poolState`), in that order. Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) {
        switch stage {
        case .scavengerPass: passLock.lock()
        case .poolState:
            thread.lock()
            registryLock.lock()
            countersLock.lock()
        default: break
        }
    }

    /// Releases what `prepareForFork(stage)` took, in the parent.
    public func parentAfterFork(_ stage: ForkStage) {
        switch stage {
        case .scavengerPass: passLock.unlock()
        case .poolState:
            countersLock.unlock()
            registryLock.unlock()
            thread.unlock()
        default: break
        }
    }

    /// Releases what `prepareForFork(stage)` took, in the child, and records that the child
    /// has no scavenger thread (the first empty page starts one).
    public func childAfterFork(_ stage: ForkStage) {
        switch stage {
        case .scavengerPass: passLock.unlock()
        case .poolState:
            countersLock.unlock()
            registryLock.unlock()
            // No scavenger thread exists here: the first empty page starts one.
            threadState.store(Self.threadIdle, ordering: .sequentiallyConsistent)
            thread.resetInChild()
        default: break
        }
    }
}
