import Testing
import Pas
import PasSystem
import PasTestSupport

@Suite struct BitfitHeapTests {
    @Test func firstFitReusesTheLowestHoleThatFits() throws {
        let heap = makeHeap(SmallBitfitConfig.self)
        let a = try heap.allocate(size: 32)
        let b = try heap.allocate(size: 32)
        let c = try heap.allocate(size: 32)
        #expect(b.address == a.address + 32)
        #expect(c.address == b.address + 32)
        try heap.deallocate(b)
        let big = try heap.allocate(size: 48) // does not fit the 32-byte hole
        #expect(big.address == c.address + 32)
        let small = try heap.allocate(size: 16) // lowest fit: the hole
        #expect(small.address == b.address)
        let small2 = try heap.allocate(size: 10) // rest of the hole, rounded to 16
        #expect(small2.address == b.address + 16)
        #expect(try heap.size(of: small2) == 16)
        #expect(heap.verify().isEmpty)
        let stats = heap.statistics
        #expect(stats.objectCount == 5)
        #expect(stats.liveBytes == 32 + 32 + 48 + 16 + 16)
    }

    @Test func alignmentIsHonouredAndCheckedUpFront() throws {
        let heap = makeHeap(SmallBitfitConfig.self)
        _ = try heap.allocate(size: 16)
        for alignment in [16, 32, 64, 256, 1024, 4096] {
            let p = try heap.allocate(size: 48, alignment: alignment)
            #expect(p.address % UInt(alignment) == 0, "alignment \(alignment)")
        }
        #expect(throws: PasError.invalidAlignment(.allocate, 3)) { try heap.allocate(size: 16, alignment: 3) }
        #expect(throws: PasError.invalidAlignment(.allocate, 0)) { try heap.allocate(size: 16, alignment: 0) }
        let tooBig = SmallBitfitConfig.pageSize * 2
        #expect(throws: PasError.invalidAlignment(.allocate, tooBig)) { try heap.allocate(size: 16, alignment: tooBig) }
        // The inline header occupies the page start, so no object can be page aligned.
        let page = SmallBitfitConfig.pageSize
        #expect(throws: PasError.invalidAlignment(.allocate, page)) { try heap.allocate(size: 16, alignment: page) }
        // Out-of-line headers leave the page start free.
        let medium = makeHeap(MediumBitfitConfig.self)
        let q = try medium.allocate(size: 256, alignment: MediumBitfitConfig.pageSize)
        #expect(q.address % UInt(MediumBitfitConfig.pageSize) == 0)
        #expect(heap.verify().isEmpty && medium.verify().isEmpty)
    }

    @Test func boundariesOfSmallConfig() throws { try checkBoundaries(SmallBitfitConfig.self) }
    @Test func boundariesOfMediumConfig() throws { try checkBoundaries(MediumBitfitConfig.self) }
    @Test func boundariesOfMargeConfig() throws { try checkBoundaries(MargeBitfitConfig.self) }
    @Test func boundariesOfJITSmallConfig() throws { try checkBoundaries(JITSmallBitfitConfig.self) }
    @Test func boundariesOfJITMediumConfig() throws { try checkBoundaries(JITMediumBitfitConfig.self) }

    func checkBoundaries<C: BitfitConfig>(_ config: C.Type) throws {
        let heap = makeHeap(config)
        let g = C.granule
        for size in [1, g - 1, g, g + 1, C.maxObjectSize - 1, C.maxObjectSize] {
            let p = try heap.allocate(size: size)
            #expect(p.address % UInt(g) == 0)
            #expect(try heap.size(of: p) == (size + g - 1) / g * g, "size \(size) in \(C.self)")
            #expect(heap.owns(p))
        }
        #expect(throws: PasError.invalidSize(.allocate, C.maxObjectSize + 1)) { try heap.allocate(size: C.maxObjectSize + 1) }
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try heap.allocate(size: 0) }
        #expect(throws: PasError.invalidSize(.allocate, -5)) { try heap.allocate(size: -5) }
        #expect(throws: PasError.invalidSize(.allocate, Int.max)) { try heap.allocate(size: Int.max) }

        // Fill pages with largest objects: every one inside one page, the last granule usable.
        var objects: [UnsafeMutableRawPointer] = []
        let perPage = (C.pageSize - (C.headerPlacement == .inline ? g : 0)) / C.maxObjectSize
        for _ in 0 ..< perPage * 3 {
            let p = try heap.allocate(size: C.maxObjectSize)
            let pageStart = p.address & ~UInt(C.pageSize - 1)
            #expect(p.address + UInt(C.maxObjectSize) <= pageStart + UInt(C.pageSize))
            if C.headerPlacement == .inline { #expect(p.address >= pageStart + 256) }
            objects.append(p)
        }
        #expect(heap.verify().isEmpty)
        for p in objects { try heap.deallocate(p) }
        #expect(heap.verify().isEmpty)
    }

    @Test func shrinkFreesTheTailForReuse() throws {
        let heap = makeHeap(JITSmallBitfitConfig.self)
        let a = try heap.allocate(size: 1000)
        let fence = try heap.allocate(size: 16)
        #expect(try heap.size(of: a) == 1008)
        try heap.shrink(a, to: 100)
        #expect(try heap.size(of: a) == 112)
        let b = try heap.allocate(size: 800)
        #expect(b.address == a.address + 112)
        try heap.shrink(a, to: 112) // same size: no change
        #expect(try heap.size(of: a) == 112)
        #expect(throws: PasError.invalidSize(.shrink, 113)) { try heap.shrink(a, to: 113) }
        #expect(throws: PasError.invalidSize(.shrink, 0)) { try heap.shrink(a, to: 0) }
        #expect(throws: PasError.unknownPointer(.shrink, address: a.address + 16)) { try heap.shrink(a + 16, to: 16) }
        try heap.shrink(a, to: 1)
        #expect(try heap.size(of: a) == 16)
        #expect(heap.statistics.liveBytes == 16 + 16 + 800)
        _ = fence
        #expect(heap.verify().isEmpty)
    }

    @Test func reallocateInPlaceGrowsIntoFreeGranulesOnly() throws {
        let heap = makeHeap(SmallBitfitConfig.self)
        let a = try heap.allocate(size: 64)
        let b = try heap.allocate(size: 64)
        #expect(try heap.tryReallocateInPlace(a, to: 65) == false) // b is in the way
        try heap.deallocate(b)
        #expect(try heap.tryReallocateInPlace(a, to: 128))
        #expect(try heap.size(of: a) == 128)
        #expect(try heap.tryReallocateInPlace(a, to: 32))
        #expect(try heap.size(of: a) == 32)
        #expect(try heap.tryReallocateInPlace(a, to: SmallBitfitConfig.maxObjectSize + 1) == false)
        #expect(throws: PasError.invalidSize(.reallocate, 0)) { try heap.tryReallocateInPlace(a, to: 0) }
        // Growing up to the end of the page works; past it does not.
        let payload = SmallBitfitConfig.pageSize - 256
        #expect(try heap.tryReallocateInPlace(a, to: SmallBitfitConfig.maxObjectSize))
        #expect(heap.statistics.liveBytes == SmallBitfitConfig.maxObjectSize)
        _ = payload
        #expect(heap.verify().isEmpty)
    }

    @Test func growsByChunksAndReportsExhaustion() throws {
        typealias C = JITMediumBitfitConfig
        let source = PatternChunkSource(maxChunks: 2)
        let heap = BitfitHeap<C, PatternChunkSource>(chunks: source, pageSharing: nil)
        var objects: [UnsafeMutableRawPointer] = []
        let perPage = C.pageSize / C.maxObjectSize
        for _ in 0 ..< perPage * C.pagesPerChunk * 2 {
            objects.append(try heap.allocate(size: C.maxObjectSize))
        }
        #expect(heap.statistics.chunkCount == 2)
        #expect(heap.statistics.freeBytes == 0)
        #expect(throws: PasError.outOfMemory(.allocate, requested: C.pageSize * C.pagesPerChunk)) {
            try heap.allocate(size: C.granule)
        }
        #expect(heap.verify().isEmpty)
        try heap.deallocate(objects.removeLast())
        let p = try heap.allocate(size: C.maxObjectSize)
        #expect(heap.owns(p))
        #expect(heap.verify().isEmpty)
    }

    @Test func onlyPagesEmptyForAtLeastTheGivenDurationAreDecommitted() throws {
        typealias C = MediumBitfitConfig
        let mock = RecordingPageSource()
        let clock = ManualTimeSource()
        let heap = BitfitHeap<C, ReservationChunkSource<RecordingPageSource>>(
            chunks: ReservationChunkSource(source: mock), timeSource: clock)
        let a = try heap.allocate(size: 1000)
        clock.advance(milliseconds: 1000)
        try heap.deallocate(a)
        clock.advance(milliseconds: 100)
        // Page 0 has been empty for 100 ms, the others since the chunk came (1.1 s ago).
        #expect(try heap.decommitEmptyPages(olderThan: .seconds(2)) == 0)
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(500)) == (C.pagesPerChunk - 1) * C.pageSize)
        clock.advance(milliseconds: 500)
        #expect(try heap.decommitEmptyPages(olderThan: .milliseconds(500)) == C.pageSize)
        #expect(try heap.decommitEmptyPages() == 0)
        #expect(heap.verify().isEmpty)
    }

    @Test func emptyPagesAreReportedDecommittedAndReused() throws {
        typealias C = MediumBitfitConfig
        let mock = RecordingPageSource()
        let clock = ManualTimeSource()
        let heap = BitfitHeap<C, ReservationChunkSource<RecordingPageSource>>(
            chunks: ReservationChunkSource(source: mock), timeSource: clock)
        let a = try heap.allocate(size: 1000)
        var stats = heap.statistics
        #expect(stats.pageCount == C.pagesPerChunk)
        #expect(stats.emptyPageCount == C.pagesPerChunk - 1)
        clock.advance(milliseconds: 10)
        try heap.deallocate(a)
        #expect(heap.statistics.emptyPageCount == C.pagesPerChunk)
        var times: [UInt64] = []
        heap.forEachEmptyPage { _, since in times.append(since) }
        #expect(times.count == C.pagesPerChunk)
        #expect(times[0] == clock.nowNanoseconds()) // page 0 emptied just now
        #expect(times[1] < clock.nowNanoseconds()) // the others since creation
        // Only pages empty since before the free are old enough.
        let early = try heap.decommitEmptyPages(emptySinceAtMost: clock.nowNanoseconds() - 1)
        #expect(early == (C.pagesPerChunk - 1) * C.pageSize)
        #expect(heap.verify().isEmpty)
        mock.clearEvents()
        #expect(try heap.decommitEmptyPages() == C.pageSize)
        #expect(mock.decommittedBytes == C.pageSize)
        stats = heap.statistics
        #expect(stats.committedBytes == 0 && stats.decommittedBytes == C.pagesPerChunk * C.pageSize)
        #expect(heap.verify().isEmpty)
        // Reuse commits the page again rather than taking a new chunk.
        mock.clearEvents()
        let b = try heap.allocate(size: 1000)
        #expect(b.address == a.address)
        #expect(mock.events == [.commit(MemoryRange(start: a.address, byteCount: C.pageSize), .readWrite)])
        stats = heap.statistics
        #expect(stats.chunkCount == 1 && stats.committedBytes == C.pageSize)
        #expect(heap.verify().isEmpty)
    }

    @Test func inlineHeaderPagesAreRebuiltAfterDecommit() throws {
        let heap = makeHeap(SmallBitfitConfig.self)
        let a = try heap.allocate(size: 100)
        try heap.deallocate(a)
        #expect(try heap.decommitEmptyPages() == SmallBitfitConfig.pageSize * SmallBitfitConfig.pagesPerChunk)
        #expect(throws: PasError.doubleFree(.deallocate, address: a.address)) { try heap.deallocate(a) }
        let b = try heap.allocate(size: 100)
        #expect(b.address == a.address)
        #expect(try heap.size(of: b) == 112)
        #expect(heap.verify().isEmpty)
    }
}
