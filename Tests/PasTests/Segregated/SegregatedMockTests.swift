import Testing
import Pas
import PasSystem
import PasTestSupport

@Suite struct SegregatedMockTests {
    typealias MockHeap = SegregatedHeap<SmallPagesConfig, ReservationChunkSource<RecordingPageSource>>

    @Test func chunkCommitFailureIsATypedErrorAndTheHeapRecovers() throws {
        let mock = RecordingPageSource()
        let heap = try MockHeap(chunks: ReservationChunkSource(source: mock), coldStart: false)
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try heap.allocate(size: 100) }
        mock.failNext(.commit)
        #expect(heap.allocateUnchecked(size: 200) == nil)
        try heap.verify()
        #expect(heap.statistics.chunkCount == 0)
        let p = try heap.allocate(size: 100)
        #expect(heap.statistics.chunkCount >= 1)
        try heap.deallocate(p)
        try heap.verify()
    }

    @Test func emptyPagesAreDecommittedInRunsAndRecommittedOnReuse() throws {
        let mock = RecordingPageSource()
        let clock = ManualTimeSource()
        let heap = try MockHeap(chunks: ReservationChunkSource(source: mock), coldStart: false, timeSource: clock)
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 8 * 8 { pointers.append(try heap.allocate(size: 2048)) } // 8 pages of 8 objects
        #expect(heap.statistics.fullPages == 0 && heap.statistics.ownedPages == 8)
        // Free pages 0-2 and 5-7 entirely, keep one object in pages 3 and 4.
        for (i, p) in pointers.enumerated() where !(i / 8 == 3 && i % 8 == 0) && !(i / 8 == 4 && i % 8 == 0) {
            try heap.deallocate(p)
        }
        heap.flushThreadCache()
        var s = heap.statistics
        #expect(s.emptyPages == 6 && s.eligiblePages == 2, "\(s)")
        // Nothing is old enough yet.
        var report = heap.emptyPageReport(olderThan: .milliseconds(300))
        #expect(report.committedEmptyPages == 6 && report.idleEmptyPages == 0)
        #expect(report.oldestEmptySince == clock.nowNanoseconds())
        mock.clearEvents()
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(300)) == 0)
        clock.advance(milliseconds: 301)
        report = heap.emptyPageReport(olderThan: .milliseconds(300))
        #expect(report.committedEmptyPages == 6 && report.idleEmptyPages == 6)
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(300)) == 6 * SmallPagesConfig.layout.pageSize)
        #expect(heap.emptyPageReport().committedEmptyPages == 0)
        let decommits = mock.events.compactMap { if case let .decommit(r) = $0 { r } else { nil } }
        #expect(decommits.count == 2, "two runs of adjacent pages: \(decommits)")
        #expect(decommits.allSatisfy { $0.byteCount == 3 * 16384 })
        #expect(mock.decommittedBytes == 6 * 16384)
        s = heap.statistics
        #expect(s.decommittedPages == 6 && s.committedPageBytes == 2 * 16384)
        try heap.verify()
        // A second call finds nothing left to do.
        #expect(try heap.decommitEmptyPages() == 0)
        // Reuse: eligible pages first (no commit), then a decommitted page is committed again.
        mock.clearEvents()
        var again: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 2 * 7 { again.append(try heap.allocate(size: 2048)) }
        #expect(mock.events.isEmpty)
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try heap.allocate(size: 2048) }
        #expect(heap.statistics.decommittedPages == 6)
        try heap.verify()
        again.append(try heap.allocate(size: 2048))
        let commits = mock.events.compactMap { if case let .commit(r, _) = $0 { r } else { nil } }
        #expect(commits.count == 1 && commits[0].byteCount == 16384)
        #expect(heap.statistics.decommittedPages == 5)
        // Recommitted memory is usable.
        again.last!.initializeMemory(as: UInt8.self, repeating: 0xAB, count: 2048)
        for p in again { try heap.deallocate(p) }
        for (i, p) in pointers.enumerated() where (i / 8 == 3 || i / 8 == 4) && i % 8 == 0 { try heap.deallocate(p) }
        heap.flushThreadCache()
        try heap.verify()
        #expect(heap.statistics.objectsInUse == 0)
    }

    @Test func decommitFailureIsReportedAndLeavesPagesCommitted() throws {
        let mock = RecordingPageSource()
        let heap = try MockHeap(chunks: ReservationChunkSource(source: mock), coldStart: false)
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 16 { pointers.append(try heap.allocate(size: 1024)) }
        for p in pointers { try heap.deallocate(p) }
        heap.flushThreadCache()
        mock.failNext(.decommit)
        #expect(throws: PasError.system(.decommit, errno: 12)) { try heap.decommitEmptyPages() }
        #expect(heap.statistics.decommittedPages == 0)
        try heap.verify()
        #expect(try heap.decommitEmptyPages() == SmallPagesConfig.layout.pageSize)
        try heap.verify()
    }

    @Test func chunkSourcesWithoutMetadataAreRefused() throws {
        final class CodeLikeChunks: ChunkSource, @unchecked Sendable {
            let inner = ReservationChunkSource(source: SystemPageSource.shared)
            var pageSize: Int { inner.pageSize }
            func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
                try inner.allocateChunk(byteCount: byteCount, alignment: alignment)
            }
            func decommit(_ range: MemoryRange) throws(PasError) { try inner.decommit(range) }
            func commit(_ range: MemoryRange) throws(PasError) { try inner.commit(range) }
            var allowsMetadataInChunks: Bool { false }
        }
        #expect(throws: PasError.unsupported(.allocate, reason: "segregated pages keep their headers in chunk memory")) {
            try SegregatedHeap<SmallPagesConfig, CodeLikeChunks>(chunks: CodeLikeChunks())
        }
    }
}
