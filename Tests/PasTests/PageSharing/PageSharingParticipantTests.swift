import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization

/// A participant that is not a heap of this package (as a segregated heap's directory will
/// be): the pool's contract seen from the participant's side.
final class FakeParticipant: PageSharingParticipant, @unchecked Sendable {
    /// Protects every field. Leaf lock.
    private let state = Mutex(State())
    struct State {
        var emptyTimes: [UInt64] = []
        var decommitted = 0
        var deadlines: [UInt64] = []
        var failNext = false
    }
    let pageSize = 4096
    weak var pool: PageSharingPool?

    /// A page became empty at `time`; tells the pool if it is the first.
    func pageBecameEmpty(at time: UInt64) {
        let first = state.withLock { s in
            s.emptyTimes.append(time)
            return s.emptyTimes.count == 1
        }
        if first { pool?.participantHasEmptyPages() }
    }
    func failNextPass() { state.withLock { $0.failNext = true } }
    var deadlines: [UInt64] { state.withLock { $0.deadlines } }

    var earliestEmptyTime: UInt64? { state.withLock { $0.emptyTimes.min() } }
    func decommitEmptyPages(emptySinceAtMost deadline: UInt64) throws(PasError) -> Int {
        let result: Int? = state.withLock { s in
            s.deadlines.append(deadline)
            if s.failNext { s.failNext = false; return nil }
            let old = s.emptyTimes.filter { $0 <= deadline }.count
            s.emptyTimes.removeAll { $0 <= deadline }
            s.decommitted += old * pageSize
            return old * pageSize
        }
        guard let result else { throw .system(.decommit, errno: 5) }
        return result
    }
    var committedPageBytes: Int { state.withLock { $0.emptyTimes.count * pageSize } }
    var decommittedPageBytes: Int { state.withLock { $0.decommitted } }
}

@Suite struct PageSharingParticipantTests {
    @Test func thePoolAsksOnlyWhenPagesAreDueWithTheRightDeadline() throws {
        let (pool, clock) = makeManualPool(delayMilliseconds: 100)
        let fake = FakeParticipant()
        fake.pool = pool
        let registration = pool.register(fake)
        #expect(pool.scavengeExpiredPages().nextDue == nil)
        #expect(fake.deadlines.isEmpty)
        let t0 = clock.nowNanoseconds()
        fake.pageBecameEmpty(at: t0)
        clock.advance(milliseconds: 50)
        fake.pageBecameEmpty(at: clock.nowNanoseconds())
        var report = pool.scavengeExpiredPages()
        #expect(report.nextDue == t0 + 100_000_000)
        #expect(fake.deadlines.isEmpty)
        clock.advance(milliseconds: 60)
        report = pool.scavengeExpiredPages()
        #expect(fake.deadlines == [clock.nowNanoseconds() - 100_000_000])
        #expect(report.decommittedBytes == 4096)
        #expect(report.nextDue == t0 + 150_000_000)
        // A failure is recorded; the participant is retried after the retry gap.
        fake.failNextPass()
        clock.advance(milliseconds: 50)
        report = pool.scavengeExpiredPages()
        #expect(report.failures == [.system(.decommit, errno: 5)])
        #expect(pool.statistics.failureCount == 1)
        #expect(report.nextDue! >= clock.nowNanoseconds() + 100_000_000)
        clock.advance(milliseconds: 100)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 4096)
        let stats = pool.statistics
        #expect(stats.committedBytes == 0 && stats.decommittedBytes == 8192 && stats.totalDecommittedBytes == 8192)
        pool.unregister(registration)
        #expect(pool.participantCount == 0)
    }

    @Test func registeringAParticipantWithEmptyPagesStartsTheThread() throws {
        let pool = PageSharingPool(delay: .seconds(30), period: .milliseconds(10))
        defer { pool.stopScavengerThread() }
        let fake = FakeParticipant()
        fake.pageBecameEmpty(at: pool.timeSource.nowNanoseconds())
        #expect(!pool.isScavengerRunning)
        _ = pool.register(fake)
        #expect(pool.isScavengerRunning)
    }
}
