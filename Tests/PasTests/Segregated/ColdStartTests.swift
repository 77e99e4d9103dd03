import Testing
#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasSystem
import PasTestSupport
import Synchronization

@Suite struct ColdStartTests {
    static let classCount = SizeClasses.classCount(upTo: SmallPagesConfig.maxObjectSize)

    @Test func aLightlyUsedHeapSharesOnePageAcrossClasses() throws {
        let heap = try SmallHeap()
        let separate = try SmallHeap(coldStart: false)
        var pointers: [UnsafeMutableRawPointer] = []
        for c in 0 ..< Self.classCount {
            let size = SizeClasses.size(ofClass: c)
            let p = try heap.allocate(size: size)
            p.initializeMemory(as: UInt8.self, repeating: UInt8(c), count: size)
            pointers.append(p)
            _ = try separate.allocate(size: size)
        }
        #expect(heap.statistics.ownedPages == 1)
        #expect(separate.statistics.ownedPages == Self.classCount)
        for (c, p) in pointers.enumerated() {
            #expect(try heap.size(of: p) == SizeClasses.size(ofClass: c))
            #expect(heap.sizeUnchecked(of: p) == SizeClasses.size(ofClass: c))
            #expect(p.load(fromByteOffset: SizeClasses.size(ofClass: c) - 1, as: UInt8.self) == UInt8(c))
            if SizeClasses.size(ofClass: c) > 16 {
                #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: p) + 16)) {
                    try heap.deallocate(p + 16)
                }
            }
        }
        let s = heap.statistics
        #expect(s.objectsInUse == Self.classCount)
        #expect(s.bytesInUse == (0 ..< Self.classCount).reduce(0) { $0 + SizeClasses.size(ofClass: $1) })
        try heap.verify()
        // The page's class map is not an object.
        let pageStart = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: pointers[0]) & ~UInt(16383))!
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: pageStart))) {
            try heap.deallocate(pageStart)
        }
        try heap.deallocate(pointers[3])
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: pointers[3]))) {
            try heap.deallocate(pointers[3])
        }
        for p in pointers where p != pointers[3] { heap.deallocateUnchecked(p) }
        heap.flushThreadCache()
        let after = heap.statistics
        #expect(after.objectsInUse == 0 && after.ownedPages == 0 && after.coldStartPages == 0 && after.emptyPages == 1)
        try heap.verify()
    }

    @Test func classesMoveToTheirOwnPagesAfterTheBudget() throws {
        let heap = try SmallHeap()
        var pointers: [UnsafeMutableRawPointer] = []
        // 2 KiB of 64-byte objects fit the budget (16384 / 8); the rest get a page of their own.
        for _ in 0 ..< 400 { pointers.append(try heap.allocate(size: 64)) }
        let coldStartPage = UInt(bitPattern: pointers[0]) & ~UInt(16383)
        let inColdStartPage = pointers.filter { UInt(bitPattern: $0) & ~UInt(16383) == coldStartPage }
        #expect(heap.statistics.ownedPages == 3, "the cold-start page and two pages of 64-byte objects")
        #expect(heap.statistics.fullPages == 0)
        #expect(inColdStartPage.count == 2048 / 64)
        // Objects of another class still carve from the cold-start page.
        let other = try heap.allocate(size: 160)
        #expect(UInt(bitPattern: other) & ~UInt(16383) == UInt(bitPattern: pointers[0]) & ~UInt(16383))
        try heap.verify()
        for p in pointers { try heap.deallocate(p) }
        try heap.deallocate(other)
        heap.flushThreadCache()
        #expect(heap.statistics.objectsInUse == 0)
        #expect(heap.statistics.ownedPages == 0 && heap.statistics.emptyPages == 3)
        try heap.verify()
        // Emptied pages, the cold-start one included, are reused by any class.
        let q = try heap.allocate(size: 2048)
        #expect(try heap.size(of: q) == 2048)
        try heap.deallocate(q)
        try heap.verify()
    }

    @Test func coldStartPagesSurviveTheirOwnersExit() throws {
        let heap = try SmallHeap()
        let box = Unchecked(UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: Self.classCount))
        defer { box.value.deallocate() }
        runOnNewThread {
            for c in 0 ..< Self.classCount { box.value[c] = heap.allocateUnchecked(size: SizeClasses.size(ofClass: c))! }
            // Free a few locally; they go to the owner's pool and are cleared at exit.
            for c in stride(from: 0, to: Self.classCount, by: 3) { heap.deallocateUnchecked(box.value[c]) }
        }
        var s = heap.statistics
        #expect(s.ownedPages == 0 && s.coldStartPages == 1, "\(s)")
        #expect(s.objectsInUse == Self.classCount - (Self.classCount + 2) / 3)
        try heap.verify()
        for c in 0 ..< Self.classCount where c % 3 != 0 {
            #expect(try heap.size(of: box.value[c]) == SizeClasses.size(ofClass: c))
            try heap.deallocate(box.value[c])
        }
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: box.value[0]))) {
            try heap.deallocate(box.value[0])
        }
        s = heap.statistics
        #expect(s.coldStartPages == 0 && s.emptyPages == 1 && s.objectsInUse == 0)
        try heap.verify()
    }

    @Test func remoteFreesIntoAnotherThreadsColdStartPage() throws {
        let heap = try SmallHeap()
        let box = Unchecked(UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: 8))
        defer { box.value.deallocate() }
        // Atomics, not plain memory: the owner's stores to `box` happen before `allocated`.
        final class Handshake: Sendable {
            let allocated = Atomic<Bool>(false)
            let finished = Atomic<Bool>(false)
        }
        let flags = Handshake()
        let owner = JoinableThread {
            for i in 0 ..< 8 { box.value[i] = heap.allocateUnchecked(size: 16 * (i + 1))! }
            flags.allocated.store(true, ordering: .releasing)
            while !flags.finished.load(ordering: .acquiring) { _ = sched_yield() }
        }
        while !flags.allocated.load(ordering: .acquiring) { _ = sched_yield() }
        for i in 0 ..< 4 { heap.deallocateUnchecked(box.value[i]) } // logged
        try heap.deallocate(box.value[4]) // checked, applied at once
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: box.value[0]))) {
            try heap.deallocate(box.value[0])
        }
        #expect(throws: PasError.doubleFree(.deallocate, address: UInt(bitPattern: box.value[4]))) {
            try heap.deallocate(box.value[4])
        }
        try heap.verify()
        flags.finished.store(true, ordering: .releasing)
        owner.join()
        for i in 5 ..< 8 { try heap.deallocate(box.value[i]) }
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.lateDoubleFrees == 0 && s.emptyPages == 1)
        try heap.verify()
    }
}
