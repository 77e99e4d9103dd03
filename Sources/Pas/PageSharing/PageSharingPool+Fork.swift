/// The pool's fork handlers (see the lock order in `PageSharingPool`).
extension PageSharingPool: ForkParticipant {
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
