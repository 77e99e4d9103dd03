import Testing
import Pas
import PasSystem

@Suite struct BitfitDirectoryTests {
    @Test func fragmentedPagesAreSearchedOnceThenSkipped() throws {
        typealias C = JITSmallBitfitConfig
        let heap = makeHeap(C.self)
        // Fill two chunks' worth of pages with one-granule objects, then free every other one:
        // each page keeps plenty of free bytes but no run longer than one granule.
        var objects: [UnsafeMutableRawPointer] = []
        let pages = 2 * C.pagesPerChunk
        for _ in 0 ..< pages * C.payloadGranules { objects.append(try heap.allocate(size: 1)) }
        #expect(heap.statistics.pageCount == pages && heap.statistics.freeBytes == 0)
        // Filling searched each full page once before moving on.
        let before = heap.statistics.failedPageSearches
        #expect(before == pages - 1)
        for (i, p) in objects.enumerated() where i % 2 == 1 { try heap.deallocate(p) }

        // The frees raised the full pages' exact hints (0) to the one-granule holes only, so a
        // larger request skips them; only the last page, whose hint was never tested, is searched.
        _ = try heap.allocate(size: 64)
        #expect(heap.statistics.failedPageSearches == before + 1)
        for _ in 0 ..< 100 { _ = try heap.allocate(size: 32) }
        #expect(heap.statistics.failedPageSearches == before + 1) // the hints keep them out
        // A one-granule request still finds the holes, first fit from the first page.
        let hole = try heap.allocate(size: 16)
        #expect(hole == objects[1])

        // Freeing neighbours raises a page's hint again, and first fit returns to it:
        // granules 2 ... 5 are free once objects 2 and 4 join the holes at 3 and 5.
        try heap.deallocate(objects[2])
        try heap.deallocate(objects[4])
        let merged = try heap.allocate(size: 64)
        #expect(merged == objects[2])
        #expect(heap.verify().isEmpty)
    }
}
