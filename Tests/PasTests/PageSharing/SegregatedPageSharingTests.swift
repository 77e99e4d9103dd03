import Testing
import Pas
import PasSystem
import PasTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The segregated heap as a page-sharing participant.
@Suite struct SegregatedPageSharingTests {
    typealias Heap = SegregatedHeap<SmallPagesConfig, MockChunks>

    /// Fills `pages` whole pages with 256-byte objects and frees them all; returns the heap.
    func emptyPages(_ heap: Heap, objects: Int) throws {
        var list: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< objects { list.append(try heap.allocate(size: 256)) }
        for p in list { try heap.deallocate(p) }
        heap.flushThreadCache()
    }

    @Test func pageEmptyFor299msStaysAt301msItIsDecommitted() throws {
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let heap = try Heap(chunks: ReservationChunkSource(source: mock), coldStart: false, pageSharing: pool)
        #expect(heap.earliestEmptyTime == nil)
        try emptyPages(heap, objects: 2000)
        let since = try #require(heap.earliestEmptyTime)
        #expect(since <= clock.nowNanoseconds())
        clock.advance(milliseconds: 299)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        #expect(decommitEvents(mock).isEmpty)
        clock.advance(milliseconds: 2)
        let report = pool.scavengeExpiredPages()
        #expect(report.decommittedBytes > 0)
        #expect(decommitEvents(mock).reduce(0) { $0 + $1.byteCount } == report.decommittedBytes)
        #expect(heap.earliestEmptyTime == nil)
        #expect(heap.decommittedPageBytes == report.decommittedBytes)
        // Decommitted pages are reused transparently.
        let p = try heap.allocate(size: 256)
        p.storeBytes(of: 7, as: UInt64.self)
        try heap.deallocate(p)
        try heap.verify()
    }

    @Test func pageReusedBeforeTheDelayIsNeverDecommitted() throws {
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let heap = try Heap(chunks: ReservationChunkSource(source: mock), coldStart: false, pageSharing: pool)
        try emptyPages(heap, objects: 500)
        clock.advance(milliseconds: 200)
        // Reuse: the same number of objects takes the empty pages again.
        var list: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 500 { list.append(try heap.allocate(size: 256)) }
        clock.advance(milliseconds: 200)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        #expect(decommitEvents(mock).isEmpty)
        for p in list { try heap.deallocate(p) }
        try heap.verify()
    }

    @Test func decommitFailureIsReportedAndRetried() throws {
        let (pool, clock) = makeManualPool()
        let mock = RecordingPageSource()
        let heap = try Heap(chunks: ReservationChunkSource(source: mock), coldStart: false, pageSharing: pool)
        try emptyPages(heap, objects: 2000)
        clock.advance(milliseconds: 301)
        mock.failNext(.decommit)
        let failed = pool.scavengeExpiredPages()
        #expect(failed.failures == [.system(.decommit, errno: 12)])
        #expect(heap.earliestEmptyTime != nil, "the pages are still empty and committed")
        clock.advance(milliseconds: 301)
        #expect(pool.scavengeExpiredPages().decommittedBytes > 0)
        #expect(heap.earliestEmptyTime == nil)
        try heap.verify()
    }

    @Test func heapWithItsOwnClockJoinsNoPool() throws {
        let heap = try Heap(chunks: ReservationChunkSource(source: RecordingPageSource()), timeSource: ManualTimeSource())
        #expect(heap.pageSharing == nil)
    }

    /// ~256 MiB of small objects, oldest 90% freed: with no explicit call, RSS falls below twice
    /// the live bytes within about a second (polled; the scavenger's delay is the default 300 ms).
    @Test func realMemoryComesBackWithoutAnExplicitCall() async throws {
        let heap = try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>(coldStart: false)
        var blocks: [UnsafeMutableRawPointer] = []
        var total = 0
        var random = SplitMix64(seed: 0x5EED)
        while total < 256 << 20 {
            let size = 16 + random.next(below: 497)
            let p = heap.allocateUnchecked(size: size)!
            memset(p, 1, size)
            blocks.append(p)
            total += size
        }
        let cut = blocks.count * 9 / 10
        var live = 0
        for (i, p) in blocks.enumerated() {
            if i < cut { heap.deallocateUnchecked(p) } else { live += heap.sizeUnchecked(of: p) }
        }
        heap.flushThreadCache()
        // RSS is the whole test process's (other suites run in parallel): check the heap's own
        // committed pages against the live bytes, and that RSS dropped by most of what was freed.
        let fell = await poll(everyMilliseconds: 50, upTo: 1500) { heap.committedPageBytes < 2 * live }
        #expect(fell, "committed \(heap.committedPageBytes >> 20) MiB, live \(live >> 20) MiB")
        // The pages of the oldest freed blocks have really left (mincore on our own addresses,
        // immune to the other suites' memory use); poll, as the pass may still be in its madvise.
        let probe = blocks[0 ..< blocks.count * 8 / 10]
        var pages = Set<UInt>()
        for p in probe { pages.insert(UInt(bitPattern: p) & ~UInt(SystemInfo.pageSize - 1)) }
        var resident = pages.count
        let gone = await poll(everyMilliseconds: 50, upTo: 1500) {
            resident = pages.reduce(0) { $0 + Residency.residentPages(start: $1, byteCount: 1) }
            return resident <= pages.count / 10
        }
        #expect(gone, "\(resident) of \(pages.count) pages of freed blocks still resident")
        for p in blocks[cut...] { heap.deallocateUnchecked(p) }
    }
}
