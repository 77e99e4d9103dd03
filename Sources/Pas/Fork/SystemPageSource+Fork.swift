import PasSystem

/// Fork: a system page source's reservation list lock is held across the fork (stage
/// `pageSource`, after the chunk sources that call it). Registered by each
/// `ReservationChunkSource` over it (counted, so a source that several chunk sources use is locked once).
extension SystemPageSource: ForkParticipant {
    /// Takes the reservation list lock. Called by `ForkRegistry` on the forking thread.
    public func prepareForFork(_ stage: ForkStage) { holdForFork() }
    /// Releases the reservation list lock, in the parent.
    public func parentAfterFork(_ stage: ForkStage) { resumeAfterFork() }
    /// Releases the reservation list lock, in the child.
    public func childAfterFork(_ stage: ForkStage) { resumeAfterFork() }
}
