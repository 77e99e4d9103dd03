import Testing
import Pas
import PasSystem
import PasTestSupport

/// A thread's ring of pages per size class grows while the thread frees its own objects into
/// pages it gave back (up to 2 MiB of pages), and only then.
@Suite struct SegregatedRingGrowthTests {
    static let perPage = 16384 / 1024

    /// Allocates `pages` pages' worth of 1024-byte objects on the calling thread.
    func fill(_ heap: SmallHeap, pages: Int) throws -> [UnsafeMutableRawPointer] {
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< pages * Self.perPage { pointers.append(try heap.allocate(size: 1024)) }
        return pointers
    }

    @Test func freesOfOwnObjectsInGivenBackPagesGrowTheRing() throws {
        let heap = try SmallHeap(coldStart: false)
        var pointers = try fill(heap, pages: 11)
        var s = heap.statistics
        #expect(s.ownedPages == 8 && s.fullPages == 3, "the ring starts at 128 KiB of 16 KiB pages")
        // 48 of these frees land in the 3 pages the ring gave back: one page more (32 frees each).
        for p in pointers { heap.deallocateUnchecked(p) }
        s = heap.statistics
        #expect(s.objectsInUse == 0 && s.remoteFrees == 3 * Self.perPage)
        try heap.verify()
        pointers = try fill(heap, pages: 11)
        s = heap.statistics
        #expect(s.ownedPages == 9 && s.fullPages == 2, "the ring grew by one page")
        try heap.verify()
        for p in pointers { heap.deallocateUnchecked(p) }
        #expect(heap.statistics.objectsInUse == 0)
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == 11 && heap.statistics.ownedPages == 0)
        try heap.verify()
    }

    @Test func ringGrowthStopsAtTwoMiB() throws {
        let heap = try SmallHeap(coldStart: false)
        var owned: [Int] = []
        for _ in 0 ..< 5 {
            let pointers = try fill(heap, pages: 200)
            owned.append(heap.statistics.ownedPages)
            for p in pointers { heap.deallocateUnchecked(p) }
            try heap.verify()
        }
        // 8 pages, then + (200 - 8) * 16 / 32 = 96, then capped at 128.
        #expect(owned == [8, 104, 128, 128, 128], "owned pages per round: \(owned)")
        #expect(heap.statistics.objectsInUse == 0)
        heap.flushThreadCache()
        #expect(heap.statistics.ownedPages == 0)
        try heap.verify()
    }

    @Test func freesByAnotherThreadDoNotGrowTheRing() throws {
        let heap = try SmallHeap(coldStart: false)
        let first = Unchecked(try fill(heap, pages: 11))
        // Another thread frees them all (its log is applied when it exits).
        runOnNewThread { for p in first.value { heap.deallocateUnchecked(p) } }
        var s = heap.statistics
        #expect(s.objectsInUse == 0)
        try heap.verify()
        let second = try fill(heap, pages: 11)
        s = heap.statistics
        #expect(s.ownedPages == 8 && s.fullPages == 3, "the ring kept its size")
        for p in second { heap.deallocateUnchecked(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == 11)
        try heap.verify()
    }
}
