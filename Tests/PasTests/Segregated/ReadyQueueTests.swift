import Testing
import Pas
import PasSystem
import PasTestSupport

/// A thread's frees into ring pages other than its current one put those pages in its
/// allocator's ready queue; a refill takes the current page's frees first, then those of the
/// page queued longest ago, and never takes a new page while a ring page has free slots.
@Suite struct ReadyQueueTests {
    @Test func freedSlotsOfQueuedPagesAreReusedOldestPageFirst() throws {
        let heap = try SmallHeap(coldStart: false)
        let perPage = 16384 / 256
        var pointers: [UnsafeMutableRawPointer] = []
        // Four full ring pages; the fourth is current and dry.
        for _ in 0 ..< 4 * perPage { pointers.append(try heap.allocate(size: 256)) }
        var s = heap.statistics
        #expect(s.ownedPages == 4)
        let fresh = s.freshPages
        // Local frees: two slots of page 2, then one of page 0, then one of the current page 3
        // (the ring's order is 0, 1, 2, 3, so a walk from page 3 would come to page 0 first).
        let page2 = [pointers[2 * perPage + 7], pointers[2 * perPage + 40]]
        let page0 = [pointers[5]]
        let page3 = [pointers[3 * perPage + 9]]
        for p in page2 + page0 + page3 { try heap.deallocate(p) }
        try heap.verify()
        // The current page's slot, then page 2's (queued first), then page 0's.
        let first = try heap.allocate(size: 256)
        #expect(first == page3[0])
        let next = [try heap.allocate(size: 256), try heap.allocate(size: 256)]
        #expect(Set(next) == Set(page2))
        #expect(try heap.allocate(size: 256) == page0[0])
        s = heap.statistics
        #expect(s.freshPages == fresh && s.ownedPages == 4, "a page was added while ring pages had free slots")
        try heap.verify()
        // Every ring page is dry again: the next allocation adds a page.
        let extra = try heap.allocate(size: 256)
        #expect(heap.statistics.ownedPages == 5)
        try heap.verify()
        try heap.deallocate(extra)
        for p in pointers { try heap.deallocate(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
    }

    /// Random local frees and allocations over a ring of many pages keep the queue consistent
    /// (`verify` checks it against the pages' flags) and hand out no slot twice.
    @Test func randomLocalChurnKeepsTheStackConsistent() throws {
        let heap = try SmallHeap(coldStart: false)
        var random = SplitMix64(seed: 0x57AC_4EAD)
        var live: [UnsafeMutableRawPointer] = []
        var seen = Set<UnsafeMutableRawPointer>()
        for _ in 0 ..< 3000 { live.append(try heap.allocate(size: 128)) }
        for step in 0 ..< 20_000 {
            let k = random.next(below: live.count)
            try heap.deallocate(live[k])
            live[k] = try heap.allocate(size: 128)
            if step % 2000 == 0 {
                try heap.verify()
                seen = Set(live)
                #expect(seen.count == live.count, "a live slot was handed out twice")
            }
        }
        try heap.verify()
        for p in live { try heap.deallocate(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
    }
}
