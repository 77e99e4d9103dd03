import Testing
import Pas
import PasSystem
import PasTestSupport

/// The pool's decisions with a manual clock and a recording page source; passes are run by
/// hand (`scavengeExpiredPages`), exactly as the background thread runs them.
@Suite struct PageSharingPoolTests {
    typealias Marge = MargeBitfitConfig

    /// A marge heap has one 4 MiB page per chunk: one object gives one page.
    func margeHeap(_ pool: PageSharingPool, delay: Duration? = nil)
        -> (BitfitHeap<Marge, MockChunks>, RecordingPageSource)
    {
        let mock = RecordingPageSource()
        let heap = BitfitHeap<Marge, MockChunks>(
            chunks: MockChunks(source: mock, reservationSize: 16 << 20),
            pageSharing: pool, scavengeDelay: delay)
        return (heap, mock)
    }

    @Test func pageEmptyFor299MillisecondsStaysAndAt301IsDecommitted() throws {
        let (pool, clock) = makeManualPool()
        let (heap, mock) = margeHeap(pool)
        let p = try heap.allocate(size: 64 << 10)
        #expect(heap.earliestEmptyTime == nil)
        clock.advance(milliseconds: 5)
        try heap.deallocate(p)
        let emptiedAt = clock.nowNanoseconds()
        #expect(heap.earliestEmptyTime == emptiedAt)
        mock.clearEvents()
        clock.advance(milliseconds: 299)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        #expect(decommitEvents(mock).isEmpty)
        #expect(heap.statistics.committedBytes == Marge.pageSize)
        clock.advance(milliseconds: 2)
        let report = pool.scavengeExpiredPages()
        #expect(report.decommittedBytes == Marge.pageSize)
        #expect(report.nextDue == nil)
        let page = MemoryRange(start: Alignment.roundDown(p.address, to: Marge.pageSize), byteCount: Marge.pageSize)
        #expect(decommitEvents(mock) == [page])
        #expect(heap.earliestEmptyTime == nil)
        let stats = pool.statistics
        #expect(stats.participantCount == 1)
        #expect(stats.committedBytes == 0 && stats.decommittedBytes == Marge.pageSize)
        #expect(stats.totalDecommittedBytes == Marge.pageSize)
        #expect(stats.lastScavengeTime == clock.nowNanoseconds())
        #expect(stats.failureCount == 0 && !stats.isScavengerRunning)
        #expect(heap.verify().isEmpty)
        // Reuse re-commits the page transparently.
        mock.clearEvents()
        let q = try heap.allocate(size: 64 << 10)
        #expect(q == p)
        #expect(commitEvents(mock) == [page])
        #expect(heap.verify().isEmpty)
    }

    @Test func pageReusedBeforeTheDelayIsNeverDecommitted() throws {
        let (pool, clock) = makeManualPool()
        let (heap, mock) = margeHeap(pool)
        var p = try heap.allocate(size: 64 << 10)
        for _ in 0 ..< 5 {
            try heap.deallocate(p)
            clock.advance(milliseconds: 200)
            #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
            p = try heap.allocate(size: 64 << 10)
            #expect(heap.earliestEmptyTime == nil)
            clock.advance(milliseconds: 200)
            #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        }
        #expect(decommitEvents(mock).isEmpty)
        #expect(heap.statistics.committedBytes == Marge.pageSize)
        // The page emptied last counts from its own free, not from the first one.
        try heap.deallocate(p)
        clock.advance(milliseconds: 299)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        clock.advance(milliseconds: 2)
        #expect(pool.scavengeExpiredPages().decommittedBytes == Marge.pageSize)
    }

    @Test func decommitFailureIsReportedAndThePageIsRetried() throws {
        let (pool, clock) = makeManualPool()
        let (heap, mock) = margeHeap(pool)
        let p = try heap.allocate(size: 64 << 10)
        try heap.deallocate(p)
        clock.advance(milliseconds: 301)
        mock.failNext(.decommit)
        let report = pool.scavengeExpiredPages()
        #expect(report.decommittedBytes == 0)
        #expect(report.failures == [.system(.decommit, errno: 12)])
        var stats = pool.statistics
        #expect(stats.failureCount == 1 && stats.lastFailure == .system(.decommit, errno: 12))
        // The page is still there: committed, empty, and still announced.
        #expect(heap.statistics.emptyPageCount == 1 && heap.statistics.committedBytes == Marge.pageSize)
        #expect(heap.earliestEmptyTime != nil)
        #expect(heap.verify().isEmpty)
        // Not retried on the very next pass, but once the retry gap has passed.
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        clock.advance(milliseconds: 300)
        #expect(pool.scavengeExpiredPages().decommittedBytes == Marge.pageSize)
        stats = pool.statistics
        #expect(stats.failureCount == 1 && stats.decommittedBytes == Marge.pageSize)
        #expect(heap.verify().isEmpty)
    }

    @Test func neighbouringEmptyPagesAreDecommittedInOneCall() throws {
        typealias Small = SmallBitfitConfig
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let heap = BitfitHeap<Small, MockChunks>(chunks: MockChunks(source: mock), pageSharing: pool)
        // Fill three pages, then free everything in the middle page and the first page.
        let perPage = Small.payloadGranules * Small.granule / 1024
        var objects: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 3 * perPage { objects.append(try heap.allocate(size: 1024)) }
        let chunkStart = Alignment.roundDown(objects[0].address, to: Small.chunkSize)
        for o in objects[0 ..< 2 * perPage] { try heap.deallocate(o) }
        mock.clearEvents()
        clock.advance(milliseconds: 301)
        let report = pool.scavengeExpiredPages()
        // Pages 0-1 and 3-15 are empty: two runs, two calls.
        #expect(
            decommitEvents(mock) == [
                MemoryRange(start: chunkStart, byteCount: 2 * Small.pageSize),
                MemoryRange(start: chunkStart + UInt(3 * Small.pageSize), byteCount: 13 * Small.pageSize),
            ])
        #expect(report.decommittedBytes == 15 * Small.pageSize)
        #expect(heap.verify().isEmpty)
        // Inline headers are rebuilt on reuse.
        let again = try heap.allocate(size: 1024)
        #expect(again.address == chunkStart + UInt(Small.payloadOffset))
        #expect(heap.verify().isEmpty)
    }

    @Test func failedDecommitOfInlineHeaderPagesLeavesUsablePages() throws {
        typealias Small = SmallBitfitConfig
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let heap = BitfitHeap<Small, MockChunks>(chunks: MockChunks(source: mock), pageSharing: pool)
        let p = try heap.allocate(size: 100)
        try heap.deallocate(p)
        clock.advance(milliseconds: 301)
        mock.failNext(.decommit)
        #expect(pool.scavengeExpiredPages().failures.count == 1)
        #expect(heap.statistics.emptyPageCount == Small.pagesPerChunk)
        #expect(heap.verify().isEmpty)
        // The pages are whole again: allocate across all of them.
        var objects: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< Small.pagesPerChunk * 4 { objects.append(try heap.allocate(size: 2048)) }
        #expect(objects[0] == p)
        #expect(heap.statistics.chunkCount == 1)
        #expect(heap.verify().isEmpty)
    }

    @Test func perHeapDelayOverridesThePool() throws {
        let (pool, clock) = makeManualPool()
        let (fast, fastMock) = margeHeap(pool, delay: .milliseconds(50))
        let (slow, slowMock) = margeHeap(pool)
        try fast.deallocate(try fast.allocate(size: 4096))
        try slow.deallocate(try slow.allocate(size: 4096))
        clock.advance(milliseconds: 51)
        let report = pool.scavengeExpiredPages()
        #expect(report.decommittedBytes == Marge.pageSize)
        #expect(decommitEvents(fastMock).count == 1 && decommitEvents(slowMock).isEmpty)
        #expect(report.nextDue == slow.earliestEmptyTime! + 300_000_000)
        clock.advance(milliseconds: 250)
        #expect(pool.scavengeExpiredPages().decommittedBytes == Marge.pageSize)
    }

    @Test func explicitScavengeTakesEverythingNow() throws {
        let (pool, _) = makeManualPool()
        let (heap, mock) = margeHeap(pool)
        let mockLarge = RecordingPageSource()
        let large = LargeHeap(chunks: MockChunks(source: mockLarge), chunkSize: 64 << 10, pageSharing: pool)
        try heap.deallocate(try heap.allocate(size: 4096))
        let l = try large.allocate(size: 32 << 10)
        try large.deallocate(l)
        #expect(large.earliestEmptyTime != nil)
        let report = pool.scavenge()
        #expect(report.decommittedBytes == Marge.pageSize + (64 << 10))
        #expect(decommitEvents(mock).count == 1)
        #expect(decommitEvents(mockLarge) == [MemoryRange(start: l.address, byteCount: 64 << 10)])
        #expect(heap.earliestEmptyTime == nil && large.earliestEmptyTime == nil)
        #expect(pool.statistics.passCount == 1)
        try large.verify()
    }

    @Test func largeHeapFreeRangesFollowTheDelay() throws {
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let page = mock.pageSize
        let heap = LargeHeap(chunks: MockChunks(source: mock), chunkSize: 16 * page, pageSharing: pool)
        let a = try heap.allocate(size: 4 * page)
        let b = try heap.allocate(size: 4 * page)
        let c = try heap.allocate(size: 8 * page)
        // The chunk is used up: nothing is free, nothing to announce.
        #expect(heap.earliestEmptyTime == nil)
        try heap.deallocate(a)
        clock.advance(milliseconds: 100)
        try heap.deallocate(b) // merges with a: the range is as young as b's free
        mock.clearEvents()
        clock.advance(milliseconds: 250)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        clock.advance(milliseconds: 51)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 8 * page)
        #expect(decommitEvents(mock) == [MemoryRange(start: a.address, byteCount: 8 * page)])
        #expect(heap.earliestEmptyTime == nil)
        try heap.verify()
        // A failed decommit keeps the range committed and announced.
        try heap.deallocate(c)
        clock.advance(milliseconds: 301)
        mock.failNext(.decommit)
        #expect(pool.scavengeExpiredPages().failures.count == 1)
        #expect(heap.statistics.decommittedBytes == 8 * page)
        #expect(heap.earliestEmptyTime != nil)
        try heap.verify()
        clock.advance(milliseconds: 301)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 8 * page)
        #expect(heap.statistics.decommittedBytes == 16 * page)
        try heap.verify()
    }

    @Test func deallocatedHeapsLeaveThePool() throws {
        let (pool, _) = makeManualPool()
        do {
            let (heap, _) = margeHeap(pool)
            try heap.deallocate(try heap.allocate(size: 4096))
            #expect(pool.participantCount == 1)
        }
        #expect(pool.participantCount == 0)
        #expect(pool.scavenge().decommittedBytes == 0)
    }
}
