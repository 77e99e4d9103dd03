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

/// Polls `condition` every `intervalMilliseconds` for at most `limitMilliseconds`; returns
/// whether it became true. For waiting on the background scavenger.
func poll(everyMilliseconds intervalMilliseconds: Int = 10, upTo limitMilliseconds: Int = 2000,
          _ condition: () -> Bool) async -> Bool {
    var waited = 0
    while true {
        if condition() { return true }
        if waited >= limitMilliseconds { return false }
        try? await Task.sleep(for: .milliseconds(intervalMilliseconds))
        waited += intervalMilliseconds
    }
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
}

#if canImport(Glibc)
import Glibc
#endif

/// A plain thread running one closure, joined with `join()`; for tests that block threads
/// on purpose (Swift concurrency's few pool threads must not be blocked).
final class JoinableThread: @unchecked Sendable {
    private var id = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&id, nil, { raw in
            // Invariant: `raw` is the retained thread object, taken exactly once here.
            let me = Unmanaged<JoinableThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(id, nil) }
}
