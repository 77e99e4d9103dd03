import Testing
import Pas
import PasSystem
import PasTestSupport

@Suite struct SegregatedHeapTests {
    @Test func objectsAreAlignedDisjointAndWritable() throws {
        let heap = try SmallHeap()
        var random = SplitMix64(seed: 0x5EED_0001)
        var live: [(UnsafeMutableRawPointer, Int)] = []
        for i in 0 ..< 4000 {
            let size = 1 + random.next(below: 2048)
            let p = try heap.allocate(size: size)
            #expect(UInt(bitPattern: p) % 16 == 0)
            p.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: i), count: size)
            live.append((p, size))
        }
        let sorted = live.sorted { UInt(bitPattern: $0.0) < UInt(bitPattern: $1.0) }
        for k in 1 ..< sorted.count {
            #expect(
                UInt(bitPattern: sorted[k - 1].0) + UInt(sorted[k - 1].1) <= UInt(bitPattern: sorted[k].0),
                "overlap, seed 0x5EED0001")
        }
        for (i, (p, size)) in live.enumerated() {
            #expect(p.load(fromByteOffset: size - 1, as: UInt8.self) == UInt8(truncatingIfNeeded: i))
        }
        try heap.verify()
        for (p, _) in live { try heap.deallocate(p) }
        try heap.verify()
        #expect(heap.statistics.objectsInUse == 0)
    }

    @Test func uncheckedPathsAllocateAndReuse() throws {
        let heap = try SmallHeap(coldStart: false)
        let p = try #require(heap.allocateUnchecked(size: 64))
        heap.deallocateUnchecked(p)
        // The freed slot goes to the owner's pool; the window still has fresh slots first, but
        // after the page is exhausted the slot comes back.
        var seen = false
        var ptrs: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 256 {
            let q = try #require(heap.allocateUnchecked(size: 64))
            if q == p { seen = true }
            ptrs.append(q)
        }
        #expect(seen)
        #expect(heap.sizeUnchecked(of: p) == 64)
        for q in ptrs { heap.deallocateUnchecked(q) }
        #expect(heap.allocateUnchecked(size: 0) == nil)
        #expect(heap.allocateUnchecked(size: -5) == nil)
        #expect(heap.allocateUnchecked(size: 2049) == nil)
        try heap.verify()
    }

    @Test func pageAccountingThroughRefillAndReturn() throws {
        let heap = try SmallHeap(coldStart: false)
        let perPage = 16384 / 256
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 3 * perPage { pointers.append(try heap.allocate(size: 256)) }
        var s = heap.statistics
        // The allocator keeps the pages it filled in its ring.
        #expect(s.ownedPages == 3 && s.fullPages == 0)
        #expect(s.objectsInUse == 3 * perPage)
        #expect(s.chunkCount == 1)
        // Frees by the owner into any ring page are local.
        for p in pointers[0 ..< perPage / 2] { try heap.deallocate(p) }
        s = heap.statistics
        #expect(s.ownedPages == 3 && s.remoteFrees == 0 && s.objectsInUse == 3 * perPage - perPage / 2)
        // Frees by another thread are logged there and applied at its exit, as remote frees.
        let rest = Unchecked(Array(pointers[perPage / 2 ..< perPage]))
        runOnNewThread { for p in rest.value { heap.deallocateUnchecked(p) } }
        s = heap.statistics
        #expect(s.remoteFrees == perPage / 2 && s.objectsInUse == 2 * perPage)
        try heap.verify()
        // Giving the ring back: the first page is empty, the two others full.
        heap.flushThreadCache()
        s = heap.statistics
        #expect(s.ownedPages == 0 && s.emptyPages == 1 && s.fullPages == 2)
        #expect(s.objectsInUse == 2 * perPage)
        try heap.verify()
        // The empty page is reused before any fresh page.
        let fresh = s.freshPages
        let q = try heap.allocate(size: 256)
        #expect(heap.statistics.freshPages == fresh)
        #expect(pointers[0 ..< perPage].contains(q))
        try heap.deallocate(q)
        // Frees into pages the thread no longer owns go through the log.
        for p in pointers[perPage...] { heap.deallocateUnchecked(p) }
        heap.flushThreadCache()
        s = heap.statistics
        #expect(s.emptyPages == 3 && s.objectsInUse == 0 && s.ownedPages == 0)
        #expect(s.remoteFrees == perPage / 2 + 2 * perPage)
        try heap.verify()
    }

    @Test func aFullRingGivesPagesBack() throws {
        let heap = try SmallHeap(coldStart: false)
        let perPage = 16384 / 1024
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 11 * perPage { pointers.append(try heap.allocate(size: 1024)) }
        var s = heap.statistics
        #expect(s.ownedPages == 8 && s.fullPages == 3, "ring capacity is 128 KiB of 16 KiB pages")
        for p in pointers { heap.deallocateUnchecked(p) }
        s = heap.statistics
        #expect(s.objectsInUse == 0 && s.remoteFrees == 3 * perPage)
        #expect(s.emptyPages == 3 && s.ownedPages == 8)
        try heap.verify()
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == 11)
        try heap.verify()
    }

    @Test func emptyPagesAreReusedByOtherSizeClasses() throws {
        let heap = try SmallHeap(coldStart: false)
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 64 { pointers.append(try heap.allocate(size: 256)) }
        for p in pointers { try heap.deallocate(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.emptyPages == 1)
        let q = try heap.allocate(size: 1024)
        #expect(heap.statistics.emptyPages == 0)
        #expect(try heap.size(of: q) == 1024)
        #expect(pointers.contains(q))
        try heap.deallocate(q)
        try heap.verify()
    }

    @Test func threadExitReturnsPages() throws {
        let heap = try SmallHeap(coldStart: false)
        let box = Unchecked<[UnsafeMutableRawPointer]>([])
        let result = Unchecked(UnsafeMutablePointer<[UnsafeMutableRawPointer]>.allocate(capacity: 1))
        result.value.initialize(to: box.value)
        defer { result.value.deinitialize(count: 1); result.value.deallocate() }
        runOnNewThread {
            var mine: [UnsafeMutableRawPointer] = []
            for i in 0 ..< 300 { mine.append(heap.allocateUnchecked(size: 16 + (i % 8) * 16)!) }
            // Free half locally: they go to the owner's pool, and come back at exit.
            for p in mine[150...] { heap.deallocateUnchecked(p) }
            result.value.pointee = Array(mine[..<150])
            #expect(heap.statistics.ownedPages == 8)
        }
        var s = heap.statistics
        #expect(s.ownedPages == 0)
        #expect(s.objectsInUse == 150)
        try heap.verify()
        for p in result.value.pointee { try heap.deallocate(p) }
        s = heap.statistics
        #expect(s.objectsInUse == 0 && s.emptyPages == 8 && s.fullPages == 0 && s.eligiblePages == 0)
        try heap.verify()
    }

    @Test func severalHeapsShareTheThreadSlot() throws {
        let a = try SmallHeap()
        let b = try MediumHeap()
        let c = try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>(
            chunks: ReservationChunkSource(source: SystemPageSource.shared), objectSize: 48)
        var pa: [UnsafeMutableRawPointer] = [], pb: [UnsafeMutableRawPointer] = [], pc: [UnsafeMutableRawPointer] = []
        for i in 0 ..< 2000 {
            pa.append(try a.allocate(size: 1 + i % 2048))
            pb.append(try b.allocate(size: 1 + (i * 7) % 16384))
            pc.append(try c.allocate(size: 48))
        }
        #expect(c.classCount == 1 && c.maxObjectSize == 48)
        for p in pa {
            #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: p))) { try b.deallocate(p) }
        }
        for p in pa { a.deallocateUnchecked(p) }
        for p in pb { b.deallocateUnchecked(p) }
        for p in pc { c.deallocateUnchecked(p) }
        for h in [a.statistics, b.statistics, c.statistics] { #expect(h.objectsInUse == 0) }
        try a.verify(); try b.verify(); try c.verify()
    }

    @Test func aDeadHeapsCachedStateIsDropped() throws {
        var heap: SmallHeap? = try SmallHeap()
        let other = try SmallHeap()
        let pointers = Unchecked(UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: 100))
        defer { pointers.value.deallocate() }
        let h = Unchecked(heap!)
        // Another thread keeps pages of the heap in its cache while the heap dies.
        let go = Unchecked(UnsafeMutablePointer<Int>.allocate(capacity: 1))
        go.value.initialize(to: 0)
        defer { go.value.deallocate() }
        runOnNewThread {
            for i in 0 ..< 100 { pointers.value[i] = h.value.allocateUnchecked(size: 32)! }
        }
        // This thread logs frees of the heap's objects, then the heap dies with entries pending.
        for i in 0 ..< 100 { heap!.deallocateUnchecked(pointers.value[i]) }
        _ = h
        heap = nil
        // Flushing the log (through another heap) drops the dead heap's entries.
        let p = try other.allocate(size: 16)
        other.deallocateUnchecked(p)
        other.flushThreadCache()
        try other.verify()
        #expect(other.statistics.objectsInUse == 0)
    }

    @Test func verifyFindsCorruptedMetadata() throws {
        let heap = try SmallHeap(coldStart: false)
        let p = try heap.allocate(size: 64)
        heap.flushThreadCache() // the page is now unowned and eligible
        try heap.verify()
        let header = SmallPagesConfig.layout.header(containing: UInt(bitPattern: p))
        // Allocated bitmap at offset 64 of the header: mark a second object without counting it.
        let bits = try #require(UnsafeMutablePointer<UInt64>(bitPattern: header + 64))
        let saved = bits[0]
        bits[0] ^= 2
        do {
            try heap.verify()
            Issue.record("verify missed a bitmap that disagrees with its count")
        } catch {
            guard case let .corrupted(operation, address, _) = error else { Issue.record("\(error)"); return }
            #expect(operation == .verify && address == header)
        }
        bits[0] = saved
        try heap.verify()
        try heap.deallocate(p)
        try heap.verify()
    }
}
