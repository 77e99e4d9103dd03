import Testing
import Pas
import PasSystem
import PasTestSupport

/// A heap over private memory recorded by a mock page source.
func makeLargeHeap(granule: Int = 16, chunkPages: Int = 64, reservationPages: Int = 4096)
    -> (LargeHeap<ReservationChunkSource<RecordingPageSource>>, RecordingPageSource)
{
    let mock = RecordingPageSource()
    let chunks = ReservationChunkSource(source: mock, reservationSize: reservationPages * mock.pageSize)
    return (LargeHeap(chunks: chunks, granule: granule, chunkSize: chunkPages * mock.pageSize, pageSharing: nil), mock)
}

@Suite struct LargeHeapTests {
    @Test func allocateSizeDeallocateRoundTrip() throws {
        let (heap, _) = makeLargeHeap()
        let p = try heap.allocate(size: 100_000)
        #expect(try heap.size(of: p) == 100_000)
        #expect(UInt(bitPattern: p) % 16 == 0)
        #expect(heap.owns(p))
        #expect(!heap.owns(p + 16))
        #expect(heap.contains(UInt(bitPattern: p) + 99_999))
        p.storeBytes(of: 0xABCD, toByteOffset: 99_992, as: UInt64.self)
        let q = try heap.allocate(size: 33)
        #expect(try heap.size(of: q) == 48)
        let s = heap.statistics
        #expect(s.objectCount == 2)
        #expect(s.liveBytes == 100_000 + 48)
        #expect(s.liveBytes + s.freeBytes == s.chunkBytes)
        try heap.verify()
        try heap.deallocate(p)
        try heap.deallocate(q)
        #expect(heap.statistics.objectCount == 0)
        #expect(heap.statistics.freeRangeCount == 1)
        #expect(!heap.owns(p))
        try heap.verify()
    }

    @Test func firstFitReturnsTheLowestAddressAndCoalesces() throws {
        let (heap, _) = makeLargeHeap()
        let a = try heap.allocate(size: 4096)
        let b = try heap.allocate(size: 4096)
        let c = try heap.allocate(size: 4096)
        let d = try heap.allocate(size: 4096)
        #expect(b == a + 4096 && c == b + 4096 && d == c + 4096)
        try heap.deallocate(a)
        try heap.deallocate(c)
        #expect(heap.statistics.freeRangeCount == 3)
        // Lowest fit: a's hole.
        let e = try heap.allocate(size: 2048)
        #expect(e == a)
        try heap.deallocate(e)
        // Freeing b joins a, b and c into one range.
        try heap.deallocate(b)
        #expect(heap.statistics.freeRangeCount == 2)
        let f = try heap.allocate(size: 3 * 4096)
        #expect(f == a)
        try heap.verify()
    }

    @Test func alignmentIsHonouredAndSlackReturnsToTheFreeStore() throws {
        let (heap, _) = makeLargeHeap()
        let page = heap.chunks.pageSize
        _ = try heap.allocate(size: 16)
        for shift in [5, 8, 12, 16, 20, 22] {
            let alignment = 1 << shift
            let p = try heap.allocate(size: 3 * 1024, alignment: alignment)
            #expect(UInt(bitPattern: p) % UInt(alignment) == 0)
        }
        let big = try heap.allocate(size: page, alignment: 64 << 20)
        #expect(UInt(bitPattern: big) % UInt(64 << 20) == 0)
        let s = heap.statistics
        #expect(s.liveBytes + s.freeBytes == s.chunkBytes)
        try heap.verify()
    }

    @Test func shrinkReturnsTheTail() throws {
        let (heap, _) = makeLargeHeap()
        let p = try heap.allocate(size: 64 * 1024)
        let q = try heap.allocate(size: 16)
        try heap.shrink(p, to: 1000)
        #expect(try heap.size(of: p) == 1008)
        let r = try heap.allocate(size: 32 * 1024)
        #expect(r == p + 1008)
        try heap.shrink(r, to: 32 * 1024)
        #expect(throws: PasError.invalidSize(.shrink, 64 * 1024)) { try heap.shrink(r, to: 64 * 1024) }
        #expect(throws: PasError.invalidSize(.shrink, 0)) { try heap.shrink(r, to: 0) }
        #expect(throws: PasError.unknownPointer(.shrink, address: UInt(bitPattern: q) + 8)) {
            try heap.shrink(q + 8, to: 16)
        }
        try heap.verify()
    }

    @Test func typedRangesAreOnlyReusedByTheirType() throws {
        let (heap, _) = makeLargeHeap()
        let a = LargeHeapType(rawValue: 1), b = LargeHeapType(rawValue: 2)
        let pa = try heap.allocate(size: 8192, type: a)
        let guardObject = try heap.allocate(size: 16)
        try heap.deallocate(pa)
        let pb = try heap.allocate(size: 8192, type: b)
        #expect(pb != pa)
        let pu = try heap.allocate(size: 8192)
        #expect(pu != pa)
        let pa2 = try heap.allocate(size: 4096, type: a)
        #expect(pa2 == pa)
        _ = guardObject
        try heap.verify()
    }

    @Test func badInputGivesTypedErrors() throws {
        let (heap, _) = makeLargeHeap()
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try heap.allocate(size: 0) }
        #expect(throws: PasError.invalidSize(.allocate, -5)) { try heap.allocate(size: -5) }
        #expect(throws: PasError.invalidSize(.allocate, Int.max)) { try heap.allocate(size: Int.max) }
        #expect(throws: PasError.invalidAlignment(.allocate, 48)) { try heap.allocate(size: 64, alignment: 48) }
        #expect(throws: PasError.invalidAlignment(.allocate, 0)) { try heap.allocate(size: 64, alignment: 0) }
        #expect(throws: PasError.invalidAlignment(.allocate, 1 << 40)) { try heap.allocate(size: 64, alignment: 1 << 40) }
        let stranger = UnsafeMutableRawPointer(bitPattern: 0x1000)!
        #expect(throws: PasError.unknownPointer(.deallocate, address: 0x1000)) { try heap.deallocate(stranger) }
        let p = try heap.allocate(size: 4096)
        let q = try heap.allocate(size: 4096)
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: p) + 64)) {
            try heap.deallocate(p + 64)
        }
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: UInt(bitPattern: p) + 64)) {
            try heap.size(of: p + 64)
        }
        try heap.deallocate(p)
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: p))) { try heap.deallocate(p) }
        #expect(throws: PasError.doubleFree(.sizeQuery, address: UInt(bitPattern: p))) { try heap.size(of: p) }
        #expect(throws: PasError.unknownPointer(.deallocate, address: 0x1000)) { try heap.deallocate(stranger) }
        try heap.deallocate(q)
        try heap.verify()
        #expect(heap.statistics.objectCount == 0)
    }

    @Test func badInputOnAFreshHeapAndOverflowingSizes() throws {
        let (heap, _) = makeLargeHeap()
        let p = UnsafeMutableRawPointer(bitPattern: 0x10_0000)!
        #expect(throws: PasError.unknownPointer(.deallocate, address: 0x10_0000)) { try heap.deallocate(p) }
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: 0x10_0000)) { try heap.size(of: p) }
        #expect(throws: PasError.unknownPointer(.shrink, address: 0x10_0000)) { try heap.shrink(p, to: 16) }
        #expect(!heap.owns(p) && !heap.contains(0x10_0000))
        #expect(try heap.decommitEmptyPages() == 0)
        try heap.verify()
        #expect(throws: PasError.invalidSize(.allocate, Int.max - 7)) { try heap.allocate(size: Int.max - 7) }
        #expect(throws: PasError.invalidSize(.allocate, LargeHeap<ReservationChunkSource<RecordingPageSource>>.maxObjectSize + 1))
        {
            try heap.allocate(size: LargeHeap<ReservationChunkSource<RecordingPageSource>>.maxObjectSize + 1)
        }
        #expect(throws: PasError.invalidAlignment(.allocate, -16)) { try heap.allocate(size: 16, alignment: -16) }
        #expect(throws: PasError.invalidAlignment(.allocate, Int.min)) { try heap.allocate(size: 16, alignment: Int.min) }
        let q = try heap.allocate(size: 100)
        #expect(throws: PasError.invalidSize(.shrink, Int.max)) { try heap.shrink(q, to: Int.max) }
        #expect(throws: PasError.invalidSize(.shrink, -1)) { try heap.shrink(q, to: -1) }
        #expect(throws: PasError.invalidSize(.shrink, 113)) { try heap.shrink(q, to: 113) }
        #expect(try heap.size(of: q) == 112)
        let s = heap.statistics
        #expect(s.objectCount == 1)
        try heap.deallocate(q)
        try heap.verify()
    }

    @Test func largeAlignmentsUpToTheLimit() throws {
        let chunks = NoAccessChunkSource()
        let heap = LargeHeap(chunks: chunks, chunkSize: 16 * chunks.pageSize)
        let limit = LargeHeap<NoAccessChunkSource>.maxAlignment
        let p = try heap.allocate(size: 4096, alignment: limit)
        #expect(UInt(bitPattern: p) % UInt(limit) == 0)
        let q = try heap.allocate(size: 1 << 20, alignment: 1 << 21)
        #expect(UInt(bitPattern: q) % UInt(1 << 21) == 0)
        #expect(throws: PasError.invalidAlignment(.allocate, limit * 2)) { try heap.allocate(size: 16, alignment: limit * 2) }
        try heap.deallocate(p)
        try heap.deallocate(q)
        try heap.verify()
    }

    @Test func liveObjectsCanBeListed() throws {
        let (heap, _) = makeLargeHeap()
        let a = try heap.allocate(size: 5000, type: LargeHeapType(rawValue: 7))
        let b = try heap.allocate(size: 70_000)
        let c = try heap.allocate(size: 16)
        try heap.deallocate(c)
        var seen: [UInt: (Int, LargeHeapType)] = [:]
        heap.forEachLiveObject { p, size, type in seen[UInt(bitPattern: p)] = (size, type) }
        #expect(seen.count == 2)
        #expect(seen[UInt(bitPattern: a)]?.0 == 5008 && seen[UInt(bitPattern: a)]?.1 == LargeHeapType(rawValue: 7))
        #expect(seen[UInt(bitPattern: b)]?.0 == 70_000 && seen[UInt(bitPattern: b)]?.1 == .untyped)
    }
}
