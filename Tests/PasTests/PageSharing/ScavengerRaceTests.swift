import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Allocation and free racing with decommit passes.
@Suite struct ScavengerRaceTests {
    typealias RealChunks = ReservationChunkSource<SystemPageSource>

    /// Threads allocate, fill, check and free objects in a small-object bitfit heap (inline
    /// headers, which a decommit zeroes) and a large heap while the scavenger runs with a
    /// 1 ms delay. Every object must keep its contents, and both heaps must verify.
    @Test func allocationAndFreeRaceWithTheScavenger() throws {
        let pool = PageSharingPool(delay: .milliseconds(1), period: .milliseconds(1))
        defer { pool.stopScavengerThread() }
        let small = BitfitHeap<SmallBitfitConfig, RealChunks>(
            chunks: RealChunks(source: SystemPageSource.shared), pageSharing: pool)
        let large = LargeHeap(chunks: RealChunks(source: SystemPageSource.shared), chunkSize: 1 << 20, pageSharing: pool)
        let seed = UInt64.random(in: 1 ... .max)
        let threads = 3
        let problems = ProblemLog()
        do {
            var workers: [JoinableThread] = []
            for t in 0 ..< threads {
                workers.append(
                    JoinableThread {
                        var rng = SplitMix64(seed: seed &+ UInt64(t))
                        var live: [(UnsafeMutableRawPointer, Int, UInt8, Bool)] = []
                        func check(_ o: (UnsafeMutableRawPointer, Int, UInt8, Bool)) -> Bool {
                            o.0.load(as: UInt8.self) == o.2 && o.0.load(fromByteOffset: o.1 - 1, as: UInt8.self) == o.2
                        }
                        for step in 0 ..< 20000 {
                            do {
                                if live.count < 64 && (live.isEmpty || rng.next() % 100 < 55) {
                                    let isLarge = rng.next() % 8 == 0
                                    let size = isLarge ? Int(rng.next() % (64 << 10)) + 4096 : Int(rng.next() % 2048) + 1
                                    let p = isLarge ? try large.allocate(size: size) : try small.allocate(size: size)
                                    let tag = UInt8(truncatingIfNeeded: rng.next() | 1)
                                    p.initializeMemory(as: UInt8.self, repeating: tag, count: size)
                                    live.append((p, size, tag, isLarge))
                                } else {
                                    let o = live.remove(at: Int(rng.next() % UInt64(live.count)))
                                    if !check(o) { problems.add("thread \(t) step \(step): object lost its contents") }
                                    if o.3 { try large.deallocate(o.0) } else { try small.deallocate(o.0) }
                                }
                                if step % 1000 == 0 { usleep(2000) } // let pages age past the delay
                            } catch {
                                problems.add("thread \(t) step \(step): \(error)")
                                return
                            }
                        }
                        for o in live {
                            if !check(o) { problems.add("thread \(t): object lost its contents at the end") }
                            do { if o.3 { try large.deallocate(o.0) } else { try small.deallocate(o.0) } } catch {
                                problems.add("thread \(t): final free: \(error)")
                            }
                        }
                    })
            }
            for w in workers { w.join() }
        }
        let found = problems.all
        #expect(found.isEmpty, "seed \(seed): \(found.prefix(5))")
        #expect(small.verify().isEmpty, "seed \(seed)")
        #expect(throws: Never.self, "seed \(seed)") { try large.verify() }
        #expect(small.statistics.objectCount == 0 && large.statistics.objectCount == 0, "seed \(seed)")
        let stats = pool.statistics
        #expect(stats.passCount > 0 && stats.totalDecommittedBytes > 0, "the scavenger never ran: \(stats) (seed \(seed))")
        #expect(stats.failureCount == 0, "\(stats) (seed \(seed))")
    }

    /// An allocation that needs a page while a decommit pass is in its system call for that
    /// page waits for the pass and then re-commits the page; it neither reuses the page too
    /// early nor takes a new chunk.
    @Test func bitfitAllocationWaitsForAPageBeingDecommitted() throws {
        let pool = PageSharingPool(usesBackgroundThread: false)
        let source = BlockingChunkSource()
        let heap = BitfitHeap<MargeBitfitConfig, BlockingChunkSource>(chunks: source, pageSharing: pool)
        let p = try heap.allocate(size: 4096)
        try heap.deallocate(p)
        source.gate.store(1, ordering: .releasing)
        let passBytes = Atomic<Int>(-1)
        let pass = JoinableThread { passBytes.store(pool.scavenge().decommittedBytes, ordering: .releasing) }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        // The pass is inside its system call and holds no allocation lock: frees and queries work.
        #expect(heap.statistics.committedBytes == 0)
        #expect(throws: PasError.doubleFree(.deallocate, address: p.address)) { try heap.deallocate(p) }
        let q = Atomic<UInt>(0)
        let allocation = JoinableThread { q.store((try? heap.allocate(size: 4096).address) ?? 1, ordering: .releasing) }
        usleep(20_000)
        source.gate.store(3, ordering: .releasing)
        pass.join()
        allocation.join()
        #expect(passBytes.load(ordering: .acquiring) == MargeBitfitConfig.pageSize)
        #expect(q.load(ordering: .acquiring) == p.address)
        let events = source.mock.events.filter { if case .reserve = $0 { false } else { true } }
        let page = MemoryRange(start: p.address, byteCount: MargeBitfitConfig.pageSize)
        #expect(events.suffix(2) == [.decommit(page), .commit(page, .readWrite)])
        #expect(heap.statistics.chunkCount == 1)
        #expect(heap.verify().isEmpty)
    }

    /// While a decommit pass is inside its system call, allocations and frees that find room
    /// in committed pages go ahead: the pass holds no lock they need.
    @Test func allocationWithRoomDoesNotWaitForADecommitPass() throws {
        typealias Medium = MediumBitfitConfig
        let pool = PageSharingPool(usesBackgroundThread: false)
        let source = BlockingChunkSource()
        let heap = BitfitHeap<Medium, BlockingChunkSource>(chunks: source, pageSharing: pool)
        let keep = try heap.allocate(size: 1024) // page 0 stays in use; pages 1... are empty
        source.gate.store(1, ordering: .releasing)
        let pass = JoinableThread { _ = pool.scavenge() }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        let done = Atomic<Int>(0)
        let worker = JoinableThread {
            for _ in 0 ..< 100 {
                guard let p = try? heap.allocate(size: 512) else { return }
                try? heap.deallocate(p)
            }
            done.store(1, ordering: .releasing)
        }
        // The worker finishes while the pass is still blocked inside its decommit call.
        let finishedDuringPass = source.finishes(done)
        pass.join()
        worker.join()
        #expect(finishedDuringPass)
        #expect(heap.statistics.committedBytes == Medium.pageSize)
        try heap.deallocate(keep)
        #expect(heap.verify().isEmpty)
    }

    /// The same for the large heap: a fit that overlaps pages being decommitted waits.
    @Test func largeAllocationWaitsForPagesBeingDecommitted() throws {
        let pool = PageSharingPool(usesBackgroundThread: false)
        let source = BlockingChunkSource()
        let page = source.pageSize
        let heap = LargeHeap(chunks: source, chunkSize: 16 * page, pageSharing: pool)
        let a = try heap.allocate(size: 16 * page)
        try heap.deallocate(a)
        source.gate.store(1, ordering: .releasing)
        let passBytes = Atomic<Int>(-1)
        let pass = JoinableThread { passBytes.store(pool.scavenge().decommittedBytes, ordering: .releasing) }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        #expect(heap.statistics.decommittedBytes == 16 * page)
        let b = Atomic<UInt>(0)
        let allocation = JoinableThread { b.store((try? heap.allocate(size: 4 * page).address) ?? 1, ordering: .releasing) }
        usleep(20_000)
        source.gate.store(3, ordering: .releasing)
        pass.join()
        allocation.join()
        #expect(passBytes.load(ordering: .acquiring) == 16 * page)
        #expect(b.load(ordering: .acquiring) == a.address)
        let events = source.mock.events.filter { if case .reserve = $0 { false } else { true } }
        #expect(
            events.suffix(2) == [
                .decommit(MemoryRange(start: a.address, byteCount: 16 * page)),
                .commit(MemoryRange(start: a.address, byteCount: 4 * page), .readWrite),
            ])
        #expect(heap.statistics.chunkBytes == 16 * page)
        try heap.verify()
    }

    typealias BlockingSegregatedHeap = SegregatedHeap<SmallPagesConfig, BlockingChunkSource>

    /// While a segregated decommit pass is inside its system call, frees that empty a page and
    /// allocations that take a blank page go ahead: the pass holds the heap lock only to choose
    /// and to record.
    @Test func segregatedFreesAndAllocationsDoNotWaitForADecommitPass() throws {
        let pool = PageSharingPool(usesBackgroundThread: false)
        let source = BlockingChunkSource()
        let heap = try BlockingSegregatedHeap(chunks: source, coldStart: false, pageSharing: pool)
        let perPage = 16384 / 256
        let first = (0 ..< perPage).compactMap { _ in heap.allocateUnchecked(size: 256) }
        let second = (0 ..< perPage).compactMap { _ in heap.allocateUnchecked(size: 256) }
        for p in first { heap.deallocateUnchecked(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == 1 && heap.statistics.fullPages == 1)
        source.gate.store(1, ordering: .releasing)
        let pass = JoinableThread { _ = pool.scavenge() }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        let done = Atomic<Int>(0)
        let objects = Unchecked(second)
        let worker = JoinableThread {
            // Empties the second page (its last free moves it to the empty list), then takes it
            // back as a blank page.
            for p in objects.value { heap.deallocateUnchecked(p) }
            heap.flushThreadCache()
            for _ in 0 ..< 16 {
                guard let p = heap.allocateUnchecked(size: 256) else { return }
                heap.deallocateUnchecked(p)
            }
            heap.flushThreadCache()
            done.store(1, ordering: .releasing)
        }
        // The worker finishes while the pass is still blocked inside its decommit call.
        let finishedDuringPass = source.finishes(done)
        pass.join()
        worker.join()
        #expect(finishedDuringPass, "a free or allocation waited for the decommit system call")
        #expect(heap.statistics.decommittedPages == 1)
        try heap.verify()
    }

    /// An allocation that needs a blank page while the only ones left are being decommitted
    /// waits for the pass and re-commits one; it does not take a new chunk.
    @Test func segregatedAllocationWaitsForPagesBeingDecommitted() throws {
        let pool = PageSharingPool(usesBackgroundThread: false)
        let source = BlockingChunkSource()
        let heap = try BlockingSegregatedHeap(chunks: source, coldStart: false, pageSharing: pool)
        let payloadPages = SmallPagesConfig.layout.pagesPerChunk - SmallPagesConfig.layout.metaPages
        let perPage = 16384 / 1024
        // Fill every page of the first chunk, then give them all back empty.
        let filler = (0 ..< payloadPages * perPage).compactMap { _ in heap.allocateUnchecked(size: 1024) }
        #expect(heap.statistics.chunkCount == 1 && heap.statistics.freshPages == 0)
        for p in filler { heap.deallocateUnchecked(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == payloadPages)
        source.gate.store(1, ordering: .releasing)
        let pass = JoinableThread { _ = pool.scavenge() }
        while source.gate.load(ordering: .acquiring) != 2 { sched_yield() }
        let got = Atomic<UInt>(0)
        let allocation = JoinableThread {
            got.store(heap.allocateUnchecked(size: 64).map { UInt(bitPattern: $0) } ?? 1, ordering: .releasing)
            heap.flushThreadCache()
        }
        usleep(20_000)
        let early = got.load(ordering: .acquiring)
        source.gate.store(3, ordering: .releasing)
        pass.join()
        allocation.join()
        #expect(early == 0, "the allocation did not wait for the pass")
        #expect(got.load(ordering: .acquiring) > 1)
        #expect(heap.statistics.chunkCount == 1, "a new chunk was taken while pages were being decommitted")
        #expect(commitEvents(source.mock).count >= 1)
        try heap.verify()
    }
}

/// Problems seen by the racing threads.
final class ProblemLog: Sendable {
    /// Protects the list. Leaf lock.
    private let list = Mutex<[String]>([])
    func add(_ text: String) { list.withLock { $0.append(text) } }
    var all: [String] { list.withLock { $0 } }
}
