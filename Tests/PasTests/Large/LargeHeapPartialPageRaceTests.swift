import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A partial page covered by free ranges of different types, racing with a decommit pass.
@Suite struct LargeHeapPartialPageRaceTests {
    /// An allocation whose fit touches a partial page that a pass is decommitting waits for the
    /// pass, then re-commits the page: the commit comes after the decommit, never before it.
    @Test func allocationWaitsForAPartialPageBeingDecommitted() throws {
        let source = BlockingChunkSource()
        let page = source.pageSize
        let heap = LargeHeap(chunks: source, chunkSize: 16 * page, pageSharing: nil)
        let a = try heap.allocate(size: page + page / 2, type: LargeHeapType(rawValue: 1))
        let b = try heap.allocate(size: page / 2, type: LargeHeapType(rawValue: 2))
        _ = try heap.allocate(size: 16)
        #expect(b == a + page + page / 2)
        try heap.deallocate(a)
        #expect(try heap.decommitEmptyPages() == 14 * page)
        try heap.deallocate(b)
        let partial = MemoryRange(start: UInt(bitPattern: a) + UInt(page), byteCount: page)
        source.gate.store(1, ordering: .releasing)
        let passBytes = Atomic<Int>(-1)
        let pass = JoinableThread { passBytes.store((try? heap.decommitEmptyPages()) ?? -2, ordering: .releasing) }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        // The page is recorded as decommitted while its system call is in flight.
        #expect(heap.statistics.decommittedBytes == 15 * page)
        let b2 = Atomic<UInt>(0)
        let allocation = JoinableThread {
            let p = try? heap.allocate(size: page / 2, type: LargeHeapType(rawValue: 2))
            b2.store(p.map { UInt(bitPattern: $0) } ?? 1, ordering: .releasing)
        }
        // Give the allocation the chance to run ahead of the pass; the order of the events
        // below shows whether it waited.
        usleep(20_000)
        source.gate.store(3, ordering: .releasing)
        pass.join()
        allocation.join()
        #expect(passBytes.load(ordering: .acquiring) == page)
        #expect(b2.load(ordering: .acquiring) == UInt(bitPattern: b))
        let events = source.mock.events.filter { if case .reserve = $0 { false } else { true } }
        #expect(events.suffix(2) == [.decommit(partial), .commit(partial, .readWrite)])
        try heap.verify()
    }
}
