import PasSystem

/// Fork: a system page source's reservation list lock is held across the fork (stage
/// `pageSource`, after the chunk sources that call it). Registered by each
/// `ReservationChunkSource` over it (counted, so a shared source is locked once).
extension SystemPageSource: ForkParticipant {
    public func prepareForFork(_ stage: ForkStage) { holdForFork() }
    public func parentAfterFork(_ stage: ForkStage) { resumeAfterFork() }
    public func childAfterFork(_ stage: ForkStage) { resumeAfterFork() }
}
