import Synchronization
import Testing
import Pas
import PasSystem
import PasTestSupport

/// The deallocation log of a thread that frees other threads' objects.
@Suite struct DeallocationLogTests {
    /// A thread that frees large objects of another thread's pages, and then does nothing,
    /// must not keep them in its log: the log flushes by bytes (about a MiB), not only when its
    /// 512 entries are used (512 objects of 16 KiB would pin 8 MiB).
    @Test func logOfLargeObjectsFlushesByBytes() throws {
        let heap = try MediumHeap(coldStart: false)
        let size = 16384
        let count = 200
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< count { pointers.append(try heap.allocate(size: size)) }
        let handed = Unchecked(pointers)
        let freed = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let freer = JoinableThread {
            for p in handed.value { heap.deallocateUnchecked(p) }
            freed.store(true, ordering: .releasing)
            // Stays alive, its log untouched, until the test has looked.
            while !release.load(ordering: .acquiring) { SystemThread.yield() }
        }
        while !freed.load(ordering: .acquiring) { SystemThread.yield() }
        let s = heap.statistics
        release.store(true, ordering: .releasing)
        freer.join()
        // At most a MiB of objects (64 of 16 KiB) may wait in the idle thread's log.
        #expect(s.remoteFrees >= count - (1 << 20) / size, "remote frees applied: \(s.remoteFrees) of \(count)")
        #expect(heap.statistics.remoteFrees == count)
        try heap.verify()
    }
}
