import Pas
import PasSystem
import PasTestSupport
import Synchronization

typealias MockChunks = ReservationChunkSource<RecordingPageSource>

/// A pool driven by hand: manual clock, no background thread.
func makeManualPool(delayMilliseconds: Int64 = 300) -> (PageSharingPool, ManualTimeSource) {
    let clock = ManualTimeSource()
    let pool = PageSharingPool(timeSource: clock, delay: .milliseconds(delayMilliseconds), usesBackgroundThread: false)
    return (pool, clock)
}

/// The decommit calls a recording page source saw.
func decommitEvents(_ mock: RecordingPageSource) -> [MemoryRange] {
    mock.events.compactMap { if case let .decommit(r) = $0 { r } else { nil } }
}

/// The commit calls a recording page source saw.
func commitEvents(_ mock: RecordingPageSource) -> [MemoryRange] {
    mock.events.compactMap { if case let .commit(r, _) = $0 { r } else { nil } }
}

/// A chunk source whose `decommit` can be made to block until released, to hold a decommit
/// pass in its system call while other threads allocate.
final class BlockingChunkSource: ChunkSource, @unchecked Sendable {
    let inner: ReservationChunkSource<RecordingPageSource>
    let mock = RecordingPageSource()
    /// 0: pass through; 1: the next decommit blocks; 2: a decommit is blocked; 3: released.
    let gate = Atomic<Int>(0)

    init() { inner = ReservationChunkSource(source: mock) }

    var pageSize: Int { inner.pageSize }
    var allowsMetadataInChunks: Bool { true }
    func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        try inner.allocateChunk(byteCount: byteCount, alignment: alignment)
    }
    func commit(_ range: MemoryRange) throws(PasError) { try inner.commit(range) }
    func decommit(_ range: MemoryRange) throws(PasError) {
        if gate.compareExchange(expected: 1, desired: 2, ordering: .acquiringAndReleasing).exchanged {
            while gate.load(ordering: .acquiring) != 3 { sched_yield() }
        }
        try inner.decommit(range)
    }

    /// With a decommit blocked (gate 2): waits up to 2 s (a safety limit, not a measurement)
    /// for `done` to become 1, then releases the decommit. True if `done` became 1 while the
    /// decommit was still blocked.
    func finishes(_ done: borrowing Atomic<Int>) -> Bool {
        var spins = 0
        while done.load(ordering: .acquiring) == 0 && spins < 2000 {
            usleep(1000)
            spins += 1
        }
        let finished = done.load(ordering: .acquiring) == 1 && gate.load(ordering: .acquiring) == 2
        gate.store(3, ordering: .releasing)
        return finished
    }
}

#if canImport(Glibc)
import Glibc
#endif
