import Testing
import Pas
import PasSystem
import PasTestSupport

@Suite struct BitfitBadInputTests {
    @Test func interiorPointersAreUnknown() throws {
        let heap = makeHeap(SmallBitfitConfig.self)
        let a = try heap.allocate(size: 64)
        for offset in [1, 8, 16, 48, 63] {
            let p = a + offset
            #expect(throws: PasError.unknownPointer(.deallocate, address: p.address)) { try heap.deallocate(p) }
            #expect(throws: PasError.unknownPointer(.sizeQuery, address: p.address)) { try heap.size(of: p) }
        }
        // The inline header is not an object.
        let header = UnsafeMutableRawPointer(bitPattern: a.address & ~UInt(SmallBitfitConfig.pageSize - 1))!
        #expect(throws: PasError.unknownPointer(.deallocate, address: header.address)) { try heap.deallocate(header) }
        #expect(try heap.size(of: a) == 64)
        #expect(heap.verify().isEmpty)
        #expect(heap.statistics.objectCount == 1)
    }

    @Test func doubleFreeIsReported() throws {
        let heap = makeHeap(MediumBitfitConfig.self)
        let a = try heap.allocate(size: 300)
        let b = try heap.allocate(size: 300)
        try heap.deallocate(a)
        #expect(throws: PasError.doubleFree(.deallocate, address: a.address)) { try heap.deallocate(a) }
        #expect(throws: PasError.doubleFree(.sizeQuery, address: a.address)) { try heap.size(of: a) }
        #expect(throws: PasError.doubleFree(.shrink, address: a.address)) { try heap.shrink(a, to: 16) }
        #expect(throws: PasError.doubleFree(.reallocate, address: a.address)) { try heap.tryReallocateInPlace(a, to: 16) }
        #expect(try heap.size(of: b) == 512)
        #expect(heap.verify().isEmpty)
        #expect(heap.statistics.objectCount == 1)
    }

    @Test func pointersFromElsewhereAreUnknown() throws {
        let heap = makeHeap(JITSmallBitfitConfig.self)
        let other = makeHeap(JITSmallBitfitConfig.self)
        _ = try heap.allocate(size: 64)
        let foreign = try other.allocate(size: 64)
        #expect(!heap.owns(foreign))
        #expect(other.owns(foreign))
        #expect(throws: PasError.unknownPointer(.deallocate, address: foreign.address)) { try heap.deallocate(foreign) }
        #expect(throws: PasError.unknownPointer(.shrink, address: foreign.address)) { try heap.shrink(foreign, to: 16) }
        var local = 0
        withUnsafeMutableBytes(of: &local) { bytes in
            let p = bytes.baseAddress!
            #expect(!heap.owns(p))
            #expect(throws: PasError.unknownPointer(.deallocate, address: p.address)) { try heap.deallocate(p) }
        }
        let high = UnsafeMutableRawPointer(bitPattern: UInt(1) << 62)!
        #expect(!heap.owns(high))
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: high.address)) { try heap.size(of: high) }
        try other.deallocate(foreign)
        #expect(heap.verify().isEmpty && other.verify().isEmpty)
    }

    @Test func commitFailureWhenGrowingLeavesTheHeapConsistent() throws {
        let mock = RecordingPageSource()
        let heap = BitfitHeap<MediumBitfitConfig, ReservationChunkSource<RecordingPageSource>>(
            chunks: ReservationChunkSource(source: mock), pageSharing: nil)
        mock.failNext(.reserve)
        #expect(throws: PasError.system(.reserve, errno: 12)) { try heap.allocate(size: 1000) }
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try heap.allocate(size: 1000) }
        #expect(heap.statistics.pageCount == 0)
        #expect(heap.verify().isEmpty)
        let a = try heap.allocate(size: 1000)
        #expect(heap.owns(a))
        #expect(heap.verify().isEmpty)
    }

    @Test func commitFailureWhenReusingADecommittedPageLeavesTheHeapConsistent() throws {
        let mock = RecordingPageSource()
        let heap = BitfitHeap<MargeBitfitConfig, ReservationChunkSource<RecordingPageSource>>(
            chunks: ReservationChunkSource(source: mock), pageSharing: nil)
        let a = try heap.allocate(size: 100_000)
        try heap.deallocate(a)
        #expect(try heap.decommitEmptyPages() == MargeBitfitConfig.pageSize)
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try heap.allocate(size: 100_000) }
        var stats = heap.statistics
        #expect(stats.committedBytes == 0 && stats.liveBytes == 0 && stats.chunkCount == 1)
        #expect(heap.verify().isEmpty)
        let b = try heap.allocate(size: 100_000)
        #expect(b.address == a.address)
        stats = heap.statistics
        #expect(stats.committedBytes == MargeBitfitConfig.pageSize)
        #expect(heap.verify().isEmpty)
    }

    @Test func decommitFailureSurfacesAndKeepsThePageUsable() throws {
        let mock = RecordingPageSource()
        let heap = BitfitHeap<MediumBitfitConfig, ReservationChunkSource<RecordingPageSource>>(
            chunks: ReservationChunkSource(source: mock), pageSharing: nil)
        let a = try heap.allocate(size: 1000)
        try heap.deallocate(a)
        mock.failNext(.decommit)
        #expect(throws: PasError.system(.decommit, errno: 12)) { try heap.decommitEmptyPages() }
        #expect(heap.verify().isEmpty)
        #expect(heap.statistics.committedBytes == heap.statistics.pageCount * MediumBitfitConfig.pageSize)
        let b = try heap.allocate(size: 1000)
        #expect(b.address == a.address)
        #expect(heap.verify().isEmpty)
    }
}
