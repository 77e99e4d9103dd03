import Testing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Pas
import PasSystem
import PasTestSupport

/// Many heaps, several generations of threads, objects passed between threads and freed where
/// they arrive (through the deallocation logs and the page locks), a thread that verifies heaps
/// while all this runs (its try-locks of busy thread locks start its passes over), and the
/// whole state checked at the end.
@Suite struct SegregatedChaosTests {
    /// One heap of the test, type-erased.
    struct AnyHeap: @unchecked Sendable {
        let allocate: (Int) -> UnsafeMutableRawPointer?
        let deallocate: (UnsafeMutableRawPointer) -> Void
        let deallocateChecked: (UnsafeMutableRawPointer) throws(PasError) -> Void
        let verify: () throws(PasError) -> Void
        let statistics: () -> SegregatedHeapStatistics
        let maxSize: Int

        init<C, S>(_ heap: SegregatedHeap<C, S>) {
            allocate = { heap.allocateUnchecked(size: $0) }
            deallocate = { heap.deallocateUnchecked($0) }
            deallocateChecked = { (p) throws(PasError) in try heap.deallocate(p) }
            verify = { () throws(PasError) in try heap.verify() }
            statistics = { heap.statistics }
            maxSize = heap.maxObjectSize
        }
    }

    @Test func manyHeapsManyThreadsCrossThreadFreesAndVerify() throws {
        var heaps: [AnyHeap] = []
        for _ in 0 ..< 4 { heaps.append(AnyHeap(try SmallHeap())) }
        for _ in 0 ..< 2 { heaps.append(AnyHeap(try MediumHeap())) }
        heaps.append(AnyHeap(try SmallHeap(chunks: ReservationChunkSource(source: SystemPageSource.shared), objectSize: 48)))
        let heapList = heaps
        let workers = 4
        let generations = 4
        let rounds = 20_000
        let mailboxes = (0 ..< workers).map { _ in AddressQueue() }
        let corrupt = Atomic<Int>(0)
        let running = Atomic<Bool>(true)
        let verifyFailures = Atomic<Int>(0)
        let verifier = JoinableThread {
            var random = SplitMix64(seed: 0xC4A0_5000)
            while running.load(ordering: .acquiring) {
                do throws(PasError) { try heapList[random.next(below: heapList.count)].verify() } catch {
                    verifyFailures.add(1, ordering: .relaxed)
                }
                usleep(2000)
            }
        }
        // An object's first word: heap index (8 bits), size (24 bits), serial (32 bits); its
        // last word the complement.
        func stamp(_ p: UnsafeMutableRawPointer, heap: Int, size: Int, serial: Int) {
            let tag = UInt64(heap) << 56 | UInt64(size) << 32 | UInt64(UInt32(truncatingIfNeeded: serial))
            p.storeBytes(of: tag, as: UInt64.self)
            p.storeBytes(of: ~tag, toByteOffset: size - 8, as: UInt64.self)
        }
        func check(_ a: UInt) -> (heap: Int, pointer: UnsafeMutableRawPointer)? {
            let p = UnsafeMutableRawPointer(bitPattern: a)!
            let tag = p.load(as: UInt64.self)
            let size = Int(tag >> 32 & 0xFF_FFFF)
            let heap = Int(tag >> 56)
            guard heap < heapList.count, size >= 16, size <= heapList[heap].maxSize,
                p.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self) == ~tag
            else { return nil }
            return (heap, p)
        }
        for generation in 0 ..< generations {
            onThreads(workers) { me in
                var random = SplitMix64(seed: UInt64(generation * 100 + me) ^ 0x5EED)
                var outgoing = [[UInt]](repeating: [], count: workers)
                for round in 0 ..< rounds {
                    let h = random.next(below: heapList.count)
                    let size = 16 + random.next(below: min(heapList[h].maxSize, 4096) - 15)
                    guard let p = heapList[h].allocate(size) else {
                        corrupt.add(1, ordering: .relaxed)
                        return
                    }
                    stamp(p, heap: h, size: size, serial: round)
                    let to = random.next(below: workers)
                    outgoing[to].append(UInt(bitPattern: p))
                    if outgoing[to].count == 32 {
                        mailboxes[to].push(outgoing[to])
                        outgoing[to].removeAll(keepingCapacity: true)
                    }
                    if round % 16 == 0 {
                        for a in mailboxes[me].popAll() {
                            guard let (heap, pointer) = check(a) else {
                                corrupt.add(1, ordering: .relaxed)
                                continue
                            }
                            if random.next(below: 8) == 0 {
                                do throws(PasError) { try heapList[heap].deallocateChecked(pointer) } catch {
                                    corrupt.add(1, ordering: .relaxed)
                                }
                            } else {
                                heapList[heap].deallocate(pointer)
                            }
                        }
                    }
                }
                for to in 0 ..< workers { mailboxes[to].push(outgoing[to]) }
            }
        }
        running.store(false, ordering: .releasing)
        verifier.join()
        // What is left in the mailboxes is freed here, on a thread that allocated none of it.
        for box in mailboxes {
            for a in box.popAll() {
                guard let (heap, pointer) = check(a) else {
                    corrupt.add(1, ordering: .relaxed)
                    continue
                }
                heapList[heap].deallocate(pointer)
            }
        }
        #expect(corrupt.load(ordering: .relaxed) == 0)
        #expect(verifyFailures.load(ordering: .relaxed) == 0)
        for (i, heap) in heapList.enumerated() {
            // `statistics` first: it applies this thread's log (the frees just made).
            let s = heap.statistics()
            try heap.verify()
            #expect(s.objectsInUse == 0, "heap \(i)")
            #expect(s.ownedPages == 0, "heap \(i): pages still owned after their threads exited")
            #expect(s.lateDoubleFrees == 0, "heap \(i)")
        }
    }
}
