import Testing
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasSystem
import PasTestSupport

@Suite struct SegregatedBadInputTests {
    @Test func badSizesAreInvalidSize() throws {
        let heap = try SmallHeap()
        for size in [0, -1, -4096, Int.min, 2049, 1 << 40, Int.max] {
            #expect(throws: PasError.invalidSize(.allocate, size)) { try heap.allocate(size: size) }
            #expect(heap.allocateUnchecked(size: size) == nil)
        }
        #expect(throws: PasError.invalidSize(.allocate, 0)) {
            try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>(
                chunks: ReservationChunkSource(source: SystemPageSource.shared), objectSize: 0)
        }
        #expect(throws: PasError.invalidAlignment(.allocate, 24)) {
            try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>(
                chunks: ReservationChunkSource(source: SystemPageSource.shared), objectSize: 48, alignment: 24)
        }
    }

    @Test func unknownAndInteriorPointersAreRejected() throws {
        let heap = try SmallHeap()
        let other = try SmallHeap()
        let p = try heap.allocate(size: 96)
        let foreign = try other.allocate(size: 96)
        var local = 0
        withUnsafeMutablePointer(to: &local) { stack in
            let s = UnsafeMutableRawPointer(stack)
            #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: s))) { try heap.deallocate(s) }
        }
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: foreign))) { try heap.deallocate(foreign) }
        for offset in [1, 8, 16, 95] {
            let q = p.advanced(by: offset)
            #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: q))) { try heap.deallocate(q) }
            #expect(throws: PasError.unknownPointer(.sizeQuery, address: UInt(bitPattern: q))) { try heap.size(of: q) }
        }
        // A slot that was never handed out (last partial slot of the page, and the chunk's
        // metadata pages) is not an object either.
        let pageStart = UInt(bitPattern: p) & ~UInt(16383)
        let tail = UnsafeMutableRawPointer(bitPattern: pageStart + UInt(16384 / 96 * 96))!
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: tail))) { try heap.deallocate(tail) }
        let chunkStart = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: p) & ~UInt((1 << 20) - 1))!
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: chunkStart))) {
            try heap.deallocate(chunkStart)
        }
        #expect(try heap.size(of: p) == 96)
        try heap.deallocate(p)
        try other.deallocate(foreign)
        try heap.verify()
    }

    @Test func doubleFreesAreCaughtOnEveryPath() throws {
        let heap = try SmallHeap()
        // 1. Owned page: the slot is in the owner's pool.
        let a = try heap.allocate(size: 32)
        try heap.deallocate(a)
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: a))) { try heap.deallocate(a) }
        // 2. Owned page, slot back in the allocator's current window.
        var many: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 600 { many.append(try heap.allocate(size: 32)) }
        for p in many { heap.deallocateUnchecked(p) }
        let b = try heap.allocate(size: 32)
        let c = try heap.allocate(size: 32)
        try heap.deallocate(c)
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: c))) { try heap.deallocate(c) }
        // 3. Unowned page, freed through the log by the unchecked path.
        heap.flushThreadCache()
        heap.deallocateUnchecked(b)
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: b))) { try heap.deallocate(b) }
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: UInt(bitPattern: b))) { try heap.size(of: b) }
        // 4. Page owned by another thread: the second free is detected at once.
        let box = Unchecked(UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: 1))
        defer { box.value.deallocate() }
        let ready = Unchecked(UnsafeMutablePointer<Int>.allocate(capacity: 2))
        ready.value.initialize(repeating: 0, count: 2)
        defer { ready.value.deallocate() }
        let owner = JoinableThread {
            box.value.pointee = heap.allocateUnchecked(size: 512)!
            // Keep the page owned until the main thread is done.
            withUnsafeMutablePointer(to: &ready.value[0]) { p in
                (p as UnsafeMutablePointer<Int>).pointee = 1
            }
            while ready.value[1] == 0 { _ = sched_yield() }
        }
        while ready.value[0] == 0 { _ = sched_yield() }
        let d = box.value.pointee
        try heap.deallocate(d)
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: d))) { try heap.deallocate(d) }
        ready.value[1] = 1
        owner.join()
        #expect(heap.statistics.lateDoubleFrees == 0)
        try heap.verify()
        #expect(heap.statistics.objectsInUse == 0)
    }

    /// Another thread's checked free of a slot that sits in the owner's current window (free,
    /// not yet handed out) is a double free; a slot the owner handed out frees normally.
    @Test func freeOfASlotInTheOwnersWindowIsADoubleFree() throws {
        let heap = try SmallHeap(coldStart: false)
        let first = Atomic<UInt>(0)
        let done = Atomic<Bool>(false)
        let owner = JoinableThread {
            // One object from a fresh page: the rest of its first 64 slots stay in the window.
            first.store(UInt(bitPattern: heap.allocateUnchecked(size: 512)!), ordering: .releasing)
            while !done.load(ordering: .acquiring) { SystemThread.yield() }
        }
        var address: UInt = 0
        while address == 0 {
            address = first.load(ordering: .acquiring)
            SystemThread.yield()
        }
        let inWindow = UnsafeMutableRawPointer(bitPattern: address + 512)!
        #expect(throws: PasError.doubleFree(.deallocate, address: address + 512)) { try heap.deallocate(inWindow) }
        try heap.deallocate(UnsafeMutableRawPointer(bitPattern: address)!)
        done.store(true, ordering: .releasing)
        owner.join()
        #expect(heap.statistics.objectsInUse == 0 && heap.statistics.lateDoubleFrees == 0)
        try heap.verify()
    }

    @Test func uncheckedDoubleFreesAcrossThreadsAreCountedNotReused() throws {
        let heap = try SmallHeap(coldStart: false)
        let p = try heap.allocate(size: 64)
        heap.deallocateUnchecked(p) // into this thread's pool
        let q = Unchecked(p)
        runOnNewThread { heap.deallocateUnchecked(q.value) } // logged, applied at that thread's exit
        // The slot is now both in this thread's pool and remote-freed: the merge keeps it once.
        var seen = 0
        var got: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 2 * 256 {
            let r = try heap.allocate(size: 64)
            if r == p { seen += 1 }
            got.append(r)
        }
        #expect(seen == 1)
        #expect(heap.statistics.lateDoubleFrees == 1)
        for r in got { try heap.deallocate(r) }
        try heap.verify()
    }
}
