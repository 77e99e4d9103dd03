import Testing
import Pas
import PasSystem
import PasTestSupport

/// Decommit and re-commit of free pages, and chunk-source failures, seen through a mock.
@Suite struct LargeHeapPageTests {
    private func decommits(_ mock: RecordingPageSource) -> [MemoryRange] {
        mock.events.compactMap { if case let .decommit(r) = $0 { r } else { nil } }
    }

    private func commits(_ mock: RecordingPageSource) -> [MemoryRange] {
        mock.events.compactMap { if case let .commit(r, _) = $0 { r } else { nil } }
    }

    @Test func decommitsWholeFreePagesAndRecommitsThemOnReuse() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: 8 * page + 32)
        let b = try heap.allocate(size: 16)
        let chunkEnd = UInt(bitPattern: a) + UInt(16 * page)
        try heap.deallocate(a)
        mock.clearEvents()
        let bytes = try heap.decommitEmptyPages()
        // a's range: whole pages 0..<8 (the 9th page is partial, b covers the rest of it); after b: pages 9..<16.
        let expected = [
            MemoryRange(start: UInt(bitPattern: a), byteCount: 8 * page),
            MemoryRange(
                start: Alignment.roundUp(UInt(bitPattern: b) + 16, to: page),
                byteCount: Int(chunkEnd - Alignment.roundUp(UInt(bitPattern: b) + 16, to: page))),
        ]
        #expect(decommits(mock) == expected)
        #expect(bytes == 15 * page)
        #expect(heap.statistics.decommittedBytes == 15 * page)
        #expect(heap.statistics.committedBytes == page)
        try heap.verify()
        // A second pass finds nothing new.
        #expect(try heap.decommitEmptyPages() == 0)
        mock.clearEvents()
        // Reusing part of the first range re-commits exactly the touched pages.
        let c = try heap.allocate(size: 2 * page + 100)
        #expect(c == a)
        #expect(commits(mock) == [MemoryRange(start: UInt(bitPattern: a), byteCount: 3 * page)])
        #expect(heap.statistics.decommittedBytes == 12 * page)
        try heap.verify()
        // Reusing the middle of a decommitted span splits it.
        mock.clearEvents()
        let d = try heap.allocate(size: page, alignment: page)
        #expect(d == a + 3 * page)
        #expect(commits(mock) == [MemoryRange(start: UInt(bitPattern: d), byteCount: page)])
        try heap.verify()
    }

    @Test func commitFailureSurfacesAndLeavesTheHeapConsistent() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: 4 * page)
        _ = try heap.allocate(size: 16)
        try heap.deallocate(a)
        _ = try heap.decommitEmptyPages()
        let before = heap.statistics
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try heap.allocate(size: 2 * page) }
        #expect(heap.statistics == before)
        try heap.verify()
        let again = try heap.allocate(size: 2 * page)
        #expect(again == a)
        try heap.verify()
    }

    @Test func growthFailureSurfacesAndLeavesTheHeapConsistent() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 4, reservationPages: 8)
        let page = mock.pageSize
        let a = try heap.allocate(size: 2 * page)
        let before = heap.statistics
        mock.failNext(.reserve)
        #expect(throws: PasError.system(.reserve, errno: 12)) { try heap.allocate(size: 64 * page) }
        #expect(heap.statistics == before)
        try heap.verify()
        _ = try heap.allocate(size: 64 * page)
        try heap.deallocate(a)
        try heap.verify()
    }

    @Test func decommitFailureKeepsWhatWasDone() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: 4 * page)
        _ = try heap.allocate(size: 16)
        try heap.deallocate(a)
        mock.failNext(.decommit)
        #expect(throws: PasError.system(.decommit, errno: 12)) { try heap.decommitEmptyPages() }
        #expect(heap.statistics.decommittedBytes == 0)
        try heap.verify()
        #expect(try heap.decommitEmptyPages() == 15 * page)
        try heap.verify()
    }

    @Test func onlyPagesFreeForAtLeastTheGivenDurationAreDecommitted() throws {
        let (pool, clock) = makeManualPool(delayMilliseconds: 3_600_000)
        let mock = RecordingPageSource()
        let chunks = ReservationChunkSource(source: mock, reservationSize: 4096 * mock.pageSize)
        let heap = LargeHeap(chunks: chunks, chunkSize: 16 * mock.pageSize, pageSharing: pool)
        let page = mock.pageSize
        let a = try heap.allocate(size: 4 * page)
        let b = try heap.allocate(size: 4 * page)
        clock.advance(milliseconds: 1000)
        try heap.deallocate(a)
        clock.advance(milliseconds: 100)
        // The chunk's tail has been free since the chunk came (1.1 s ago), `a` for 100 ms.
        #expect(try heap.decommitEmptyPages(olderThan: .seconds(2)) == 0)
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(500)) == 8 * page)
        clock.advance(milliseconds: 500)
        mock.clearEvents()
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(500)) == 4 * page)
        #expect(decommits(mock) == [MemoryRange(start: UInt(bitPattern: a), byteCount: 4 * page)])
        #expect(try heap.decommitEmptyPages() == 0)
        _ = b
        try heap.verify()
    }

    @Test func onlyRangesFreedBeforeTheEpochAreDecommitted() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: 4 * page)
        let b = try heap.allocate(size: 4 * page)
        let c = try heap.allocate(size: 4 * page)
        _ = try heap.allocate(size: 4 * page)
        try heap.deallocate(a)
        let sample = heap.freeEpoch
        try heap.deallocate(c)
        mock.clearEvents()
        #expect(try heap.decommitEmptyPages(emptySinceAtMost: sample) == 4 * page)
        #expect(decommits(mock) == [MemoryRange(start: UInt(bitPattern: a), byteCount: 4 * page)])
        #expect(try heap.decommitEmptyPages() == 4 * page)
        _ = b
        try heap.verify()
    }

    @Test func aPartialPageOfFreeRangesOfDifferentTypesIsDecommittedOnceAllAreEligible() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: page + page / 2, type: LargeHeapType(rawValue: 1))
        let b = try heap.allocate(size: page / 2 + page, type: LargeHeapType(rawValue: 2))
        _ = try heap.allocate(size: 16)
        #expect(b == a + page + page / 2)
        try heap.deallocate(a)
        let sample = heap.freeEpoch
        try heap.deallocate(b)
        #expect(heap.statistics.freeRangeCount == 3)
        let partial = MemoryRange(start: UInt(bitPattern: a) + UInt(page), byteCount: page)
        let bWhole = MemoryRange(start: UInt(bitPattern: a) + UInt(2 * page), byteCount: page)
        mock.clearEvents()
        // Only a (and the untouched tail of the chunk) is old enough: a's one whole page
        // goes; the page a shares with b waits for b.
        _ = try heap.decommitEmptyPages(emptySinceAtMost: sample)
        #expect(decommits(mock).contains(MemoryRange(start: UInt(bitPattern: a), byteCount: page)))
        #expect(!decommits(mock).contains { $0.overlaps(partial) || $0.overlaps(bWhole) })
        mock.clearEvents()
        // Now b's whole page and the partial page go too.
        #expect(try heap.decommitEmptyPages() == 2 * page)
        #expect(decommits(mock) == [bWhole, partial])
        try heap.verify()
        // Type 2 reusing its range re-commits the partial page.
        mock.clearEvents()
        let b2 = try heap.allocate(size: page, type: LargeHeapType(rawValue: 2))
        #expect(b2 == b)
        #expect(commits(mock) == [MemoryRange(start: UInt(bitPattern: a) + UInt(page), byteCount: 2 * page)])
        try heap.verify()
    }

    @Test func aPartialPageWhoseDecommitFailsStaysCommittedAndFreeAndIsRetried() throws {
        let (heap, mock) = makeLargeHeap(chunkPages: 16)
        let page = mock.pageSize
        let a = try heap.allocate(size: page + page / 2, type: LargeHeapType(rawValue: 1))
        let b = try heap.allocate(size: page / 2, type: LargeHeapType(rawValue: 2))
        _ = try heap.allocate(size: 16)
        #expect(b == a + page + page / 2)
        try heap.deallocate(a)
        // a's whole page and the chunk's untouched tail go; the page a shares with b stays.
        #expect(try heap.decommitEmptyPages() == 14 * page)
        #expect(heap.earliestEmptyTime == nil)
        // Freeing b holds no whole page of its own, but frees the partial page end to end.
        try heap.deallocate(b)
        #expect(heap.earliestEmptyTime != nil)
        let before = heap.statistics
        let partial = MemoryRange(start: UInt(bitPattern: a) + UInt(page), byteCount: page)
        mock.clearEvents()
        mock.failNext(.decommit)
        // The partial page is the pass's only run, so the failing call is the one for it.
        #expect(throws: PasError.system(.decommit, errno: 12)) { try heap.decommitEmptyPages() }
        #expect(decommits(mock).isEmpty)
        // The page left the decommitted set again: still committed, still free, still wanted.
        #expect(heap.statistics == before)
        #expect(heap.statistics.committedBytes == 2 * page)
        #expect(heap.earliestEmptyTime != nil)
        try heap.verify()
        // The next pass retries it, and then nothing is left.
        mock.clearEvents()
        #expect(try heap.decommitEmptyPages() == page)
        #expect(decommits(mock) == [partial])
        #expect(heap.statistics.decommittedBytes == before.decommittedBytes + page)
        #expect(heap.earliestEmptyTime == nil)
        try heap.verify()
        // Type 2 reusing b's range re-commits the partial page.
        mock.clearEvents()
        let b2 = try heap.allocate(size: page / 2, type: LargeHeapType(rawValue: 2))
        #expect(b2 == b)
        #expect(commits(mock) == [partial])
        try heap.verify()
    }
}
