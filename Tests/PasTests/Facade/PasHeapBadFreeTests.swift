import Testing
import Pas
import PasSystem

/// Frees of pointers into the middle of segregated objects, and reservations that fail.
@Suite struct PasHeapBadFreeTests {
    /// An interior pointer of a small or medium object is detected on the free path, ignored
    /// and counted; the object stays live and is not handed out again. Covers cold-start
    /// cold-start pages and pages of one class.
    @Test(arguments: [true, false])
    func interiorFreeOfASegregatedObjectIsIgnoredAndCounted(coldStart: Bool) throws {
        let heap = try PasHeap(cageBytes: 1 << 30, coldStart: coldStart, pageSharing: nil)
        for size in [16, 48, 64, 80, 100, 1000, 2048, 3000, 9000, 16384] {
            let p = try #require(heap.allocateUnchecked(size: size))
            p.initializeMemory(as: UInt8.self, repeating: 0x5A, count: size)
            let before = heap.ignoredFrees
            #expect(heap.deallocateUnchecked(p + (size >= 32 ? 16 : 8)))
            #expect(heap.deallocateUnchecked(p + 1))
            #expect(heap.ignoredFrees == before + 2, "size \(size)")
            var again: [UnsafeMutableRawPointer] = []
            for _ in 0 ..< 8 {
                let q = try #require(heap.allocateUnchecked(size: size))
                #expect(q < p || q >= p + size, "size \(size): \(q) handed out inside live \(p)")
                again.append(q)
            }
            #expect(p.load(as: UInt8.self) == 0x5A && p.load(fromByteOffset: size - 1, as: UInt8.self) == 0x5A)
            let inside = p + (size >= 32 ? 16 : 8)
            #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: inside))) {
                try heap.deallocate(inside)
            }
            for q in again { #expect(heap.deallocateUnchecked(q)) }
            #expect(heap.deallocateUnchecked(p))
        }
        try heap.verify()
        #expect(heap.statistics.liveBytes == 0)
    }

    /// The address just past the last object of a page (a multiple of the object size, but
    /// no object) is never handed out after being freed.
    @Test func freeOfThePageTailIsNeverHandedOut() throws {
        let heap = try PasHeap(cageBytes: 1 << 30, coldStart: false, pageSharing: nil)
        let size = 48
        let first = try #require(heap.allocateUnchecked(size: size))
        let pageSize = 16 << 10
        let pageStart = UInt(bitPattern: first) & ~UInt(pageSize - 1)
        let objects = pageSize / size
        let tail = try #require(UnsafeMutableRawPointer(bitPattern: pageStart + UInt(objects * size)))
        _ = heap.deallocateUnchecked(tail)
        var taken: [UnsafeMutableRawPointer] = [first]
        for _ in 0 ..< 3 * objects {
            let q = try #require(heap.allocateUnchecked(size: size))
            #expect(q != tail)
            taken.append(q)
        }
        for q in taken { _ = heap.deallocateUnchecked(q) }
        try heap.verify()
    }

    /// A cage that cannot be reserved is a typed error naming the reservation.
    @Test func unreservableCageIsOutOfMemory() {
        #expect(throws: PasError.outOfMemory(.reserve, requested: 1 << 60)) {
            try PasHeap(cageBytes: 1 << 60, pageSharing: nil)
        }
    }
}
