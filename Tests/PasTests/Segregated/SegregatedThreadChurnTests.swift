import Testing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Pas
import PasSystem
import PasTestSupport

@Suite struct SegregatedThreadChurnTests {
    /// Short-lived threads allocate, free some objects locally and leave the rest to the main
    /// thread; every exit must give its pages back and lose nothing.
    @Test func shortLivedThreadsLeaveNoOwnedPagesBehind() throws {
        let heap = try SmallHeap()
        let iso = try SystemIsoHeap<SIMD8<Float>>()
        let survivors = HandoffLock<[UInt]>([])
        let isoSurvivors = HandoffLock<[UInt]>([])
        let seed: UInt64 = 0xDEAD_0042
        for round in 0 ..< 8 {
            var threads: [JoinableThread] = []
            for t in 0 ..< 6 {
                threads.append(
                    JoinableThread {
                        var random = SplitMix64(seed: seed &+ UInt64(round * 16 + t))
                        var mine: [UInt] = []
                        for _ in 0 ..< 400 {
                            let p = heap.allocateUnchecked(size: 1 + random.next(below: 2048))!
                            if random.next(below: 3) == 0 {
                                heap.deallocateUnchecked(p)
                            } else {
                                mine.append(UInt(bitPattern: p))
                            }
                            let q = iso.allocateUnchecked()!
                            if random.next(below: 2) == 0 {
                                iso.deallocateUnchecked(q)
                            } else {
                                isoSurvivors.withLock { $0.append(UInt(bitPattern: q)) }
                            }
                        }
                        survivors.withLock { $0.append(contentsOf: mine) }
                    })
            }
            for t in threads { t.join() }
            #expect(heap.statistics.ownedPages == 0, "seed \(seed) round \(round)")
            #expect(iso.statistics.ownedPages == 0, "seed \(seed) round \(round)")
            try heap.verify()
            try iso.verify()
        }
        let live = survivors.withLock { $0 }
        let isoLive = isoSurvivors.withLock { $0 }
        #expect(heap.statistics.objectsInUse == live.count, "seed \(seed)")
        #expect(iso.statistics.objectsInUse == isoLive.count, "seed \(seed)")
        for a in live { try heap.deallocate(UnsafeMutableRawPointer(bitPattern: a)!) }
        for a in isoLive { iso.deallocateUnchecked(UnsafeMutablePointer(bitPattern: a)!) }
        heap.flushThreadCache()
        iso.flushThreadCache()
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.fullPages == 0 && s.eligiblePages == 0 && s.lateDoubleFrees == 0, "seed \(seed)")
        #expect(iso.statistics.objectsInUse == 0)
        try heap.verify()
        try iso.verify()
        // The page-sharing pool's scavenger may decommit some of the empty pages between the
        // snapshot and this call (when the suite's parallel tests delay this one past its delay).
        let returned = try heap.decommitEmptyPages()
        #expect(returned % s.pageSize == 0 && returned <= (s.emptyPages - s.decommittedPages) * s.pageSize)
        let after = heap.statistics
        #expect(after.committedPageBytes == 0 && after.decommittedPages == s.emptyPages)
    }

    /// verify(), statistics and decommit from one thread while two others allocate and free.
    @Test func introspectionRunsConcurrentlyWithAllocation() throws {
        let heap = try MediumHeap()
        let stop = Atomic<Bool>(false)
        let seed: UInt64 = 0xFEED_BEEF
        var threads: [JoinableThread] = []
        for t in 0 ..< 2 {
            threads.append(
                JoinableThread {
                    var random = SplitMix64(seed: seed &+ UInt64(t))
                    var slots = [UInt](repeating: 0, count: 256)
                    while !stop.load(ordering: .relaxed) {
                        for _ in 0 ..< 1000 {
                            let k = random.next(below: slots.count)
                            if slots[k] != 0 { heap.deallocateUnchecked(UnsafeMutableRawPointer(bitPattern: slots[k])!) }
                            let p = heap.allocateUnchecked(size: 1 + random.next(below: 16384))!
                            p.storeBytes(of: UInt8(k & 0xFF), as: UInt8.self)
                            slots[k] = UInt(bitPattern: p)
                        }
                        // Drop everything now and then so that pages empty and get decommitted.
                        if random.next(below: 4) == 0 {
                            for k in slots.indices where slots[k] != 0 {
                                heap.deallocateUnchecked(UnsafeMutableRawPointer(bitPattern: slots[k])!)
                                slots[k] = 0
                            }
                            heap.flushThreadCache()
                        }
                    }
                    for a in slots where a != 0 { heap.deallocateUnchecked(UnsafeMutableRawPointer(bitPattern: a)!) }
                })
        }
        var checks = 0
        var failure: PasError? = nil
        while checks < 200 {
            do {
                try heap.verify()
                _ = heap.statistics
                _ = try heap.decommitEmptyPages()
            } catch {
                failure = error
                break
            }
            checks += 1
            if checks % 20 == 0 { sched_yield() }
        }
        stop.store(true, ordering: .relaxed)
        for t in threads { t.join() }
        #expect(failure == nil, "seed \(seed): \(String(describing: failure))")
        try heap.verify()
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.ownedPages == 0 && s.lateDoubleFrees == 0, "seed \(seed)")
    }
}
