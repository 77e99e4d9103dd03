import Testing
import Pas
import PasSystem
import PasTestSupport

private struct Point { var x: Double; var y: Double; var z: Double }
private struct Blob { var bytes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) }
private struct Large { var payload: (Blob, Blob, Blob, Blob, Blob, Blob, Blob, Blob, Blob, Blob) }
private struct Huge {
    var payload:
        (
            Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large, Large,
            Large, Large, Large, Large, Large, Large, Large, Large
        )
}

@Suite struct IsoHeapTests {
    @Test func typesNeverShareMemoryEvenWithOneChunkSource() throws {
        let chunks = ReservationChunkSource(source: SystemPageSource.shared)
        let points = try IsoHeap<Point, ReservationChunkSource<SystemPageSource>>(chunks: chunks)
        let blobs = try IsoHeap<Blob, ReservationChunkSource<SystemPageSource>>(chunks: chunks)
        #expect(IsoHeap<Point, ReservationChunkSource<SystemPageSource>>.objectSize == 32)
        #expect(IsoHeap<Blob, ReservationChunkSource<SystemPageSource>>.objectSize == 64)
        var pointAddresses = Set<UInt>(), blobAddresses = Set<UInt>()
        var random = SplitMix64(seed: 0x150_4EA9)
        var livePoints: [UnsafeMutablePointer<Point>] = [], liveBlobs: [UnsafeMutablePointer<Blob>] = []
        for _ in 0 ..< 20_000 {
            switch random.next(below: 4) {
            case 0:
                let p = try points.create(Point(x: 1, y: 2, z: 3))
                pointAddresses.insert(UInt(bitPattern: p)); livePoints.append(p)
            case 1:
                let b = try blobs.allocate()
                blobAddresses.insert(UInt(bitPattern: b)); liveBlobs.append(b)
            case 2 where !livePoints.isEmpty:
                try points.destroy(livePoints.remove(at: random.next(below: livePoints.count)))
            case 3 where !liveBlobs.isEmpty:
                blobs.deallocateUnchecked(liveBlobs.remove(at: random.next(below: liveBlobs.count)))
            default: break
            }
            if random.next(below: 2000) == 0 { points.flushThreadCache(); blobs.flushThreadCache() }
        }
        #expect(pointAddresses.isDisjoint(with: blobAddresses), "seed 0x1504EA9")
        // Memory is reused within a type.
        #expect(pointAddresses.count < 20_000)
        for p in livePoints { #expect(points.contains(p)); #expect(!blobs.contains(p)) }
        for p in livePoints { try points.destroy(p) }
        for b in liveBlobs { try blobs.deallocate(b) }
        points.flushThreadCache(); blobs.flushThreadCache()
        // Empty pages stay with their heap: decommitted, then reused by the same type only.
        #expect(try points.decommitEmptyPages() > 0)
        let again = try blobs.allocate()
        #expect(!pointAddresses.contains(UInt(bitPattern: again)))
        try blobs.deallocate(again)
        try points.verify(); try blobs.verify()
        #expect(points.statistics.objectsInUse == 0 && blobs.statistics.objectsInUse == 0)
    }

    @Test func largeTypesUseMediumPagesAndHugeOnesAreRefused() throws {
        #expect(MemoryLayout<Large>.stride == 640)
        let large = try SystemIsoHeap<Large>()
        #expect(large.statistics.pageSize == 16384)
        let l = try large.allocate()
        #expect(large.statistics.chunkCount == 1)
        try large.deallocate(l)
        #expect(MemoryLayout<Huge>.stride == 16000)
        let huge = try SystemIsoHeap<Huge>()
        let h = try #require(huge.allocateUnchecked())
        #expect(huge.statistics.pageSize == 131072)
        huge.deallocateUnchecked(h)
        try huge.verify()
        #expect(throws: PasError.invalidSize(.allocate, 32000)) {
            try SystemIsoHeap<(Huge, Huge)>()
        }
    }

    @Test func badPointersToAnIsoHeapAreTypedErrors() throws {
        let heap = try SystemIsoHeap<Point>()
        let p = try heap.create(Point(x: 0, y: 0, z: 0))
        let interior = UnsafeMutableRawPointer(p).advanced(by: 8).assumingMemoryBound(to: Point.self)
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: UInt(bitPattern: interior))) { try heap.destroy(interior) }
        try heap.destroy(p)
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: UInt(bitPattern: p))) { try heap.destroy(p) }
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: p))) { try heap.deallocate(p) }
        try heap.verify()
    }
}
