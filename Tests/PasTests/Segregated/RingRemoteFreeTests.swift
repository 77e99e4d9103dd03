import Testing
import Pas
import PasSystem
import PasTestSupport

/// Remote frees into pages a thread owns reach its allocator when its ring runs dry, however
/// many dry rings found none before (the slow path skips the ring walk while no remote free
/// reached an owned page since its last walk).
@Suite struct RingRemoteFreeTests {
    @Test func remoteFreesAfterAFruitlessWalkAreTakenIn() throws {
        let heap = try SmallHeap(coldStart: false)
        let perPage = 16384 / 256
        var pointers: [UnsafeMutableRawPointer] = []
        // Three ring pages, full; the ring then runs dry with no remote frees to take in, and
        // a fourth page joins it.
        for _ in 0 ..< 3 * perPage + 1 { pointers.append(try heap.allocate(size: 256)) }
        for _ in 1 ..< perPage { pointers.append(try heap.allocate(size: 256)) }
        var s = heap.statistics
        #expect(s.ownedPages == 4 && s.remoteFrees == 0)
        let fresh = s.freshPages
        for round in 0 ..< 3 {
            // Another thread frees a quarter of one ring page, as remote frees into the page
            // this thread owns: through its log (applied at its exit) in rounds 0 and 2,
            // through the checked path (applied at once) in round 1.
            let page = pointers[round * perPage ..< round * perPage + perPage / 4]
            let handed = Unchecked(Array(page))
            let checked = round == 1
            runOnNewThread {
                for p in handed.value {
                    if !checked {
                        heap.deallocateUnchecked(p)
                        continue
                    }
                    do { try heap.deallocate(p) } catch { Issue.record("checked remote free: \(error)") }
                }
            }
            // `remoteFrees` counts the frees logs applied (the checked path frees at once).
            let logged = round == 2 ? 2 : 1
            #expect(heap.statistics.remoteFrees == logged * perPage / 4)
            // The ring is dry: the next allocations must come from those remote frees, with
            // no new page.
            var again: [UnsafeMutableRawPointer] = []
            for _ in 0 ..< perPage / 4 { again.append(try heap.allocate(size: 256)) }
            s = heap.statistics
            #expect(s.freshPages == fresh && s.ownedPages == 4, "round \(round): a page was added")
            #expect(Set(again) == Set(page), "round \(round): the remote frees were not reused")
            try heap.verify()
        }
        for p in pointers { try heap.deallocate(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
    }
}
