import Testing
#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasSystem
import PasTestSupport

@Suite struct PasHeapTests {
    /// Sizes at and around every threshold, with the region each must land in.
    static let thresholds: [(Int, PasHeap.Region)] = [
        (1, .small), (16, .small), (17, .small), (PasHeap.smallLimit, .small),
        (PasHeap.smallLimit + 1, .medium), (PasHeap.mediumLimit, .medium),
        (PasHeap.mediumLimit + 1, .marge), (PasHeap.margeLimit, .marge),
        (PasHeap.margeLimit + 1, .large), (4 << 20, .large),
    ]

    @Test func routesEverySizeAtEveryThreshold() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        for (size, region) in Self.thresholds {
            #expect(PasHeap.region(forSize: size) == region, "size \(size)")
            for checked in [true, false] {
                let p = checked ? try heap.allocate(size: size) : try #require(heap.allocateUnchecked(size: size))
                #expect(heap.region(of: p) == region, "size \(size) checked \(checked)")
                #expect(heap.contains(p))
                #expect(UInt(bitPattern: p) % 16 == 0)
                let usable = try heap.size(of: p)
                #expect(usable >= size, "size \(size)")
                #expect(heap.usableSizeUnchecked(of: p) == usable)
                p.initializeMemory(as: UInt8.self, repeating: 0xA5, count: usable)
                if checked { try heap.deallocate(p) } else { #expect(heap.deallocateUnchecked(p)) }
            }
        }
        try heap.verify()
        #expect(heap.statistics.liveBytes == 0)
    }

    @Test func alignedRequestsGoToBitfitOrLarge() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        for (size, alignment, region) in [
            (24, 64, PasHeap.Region.marge), (100, 4096, .marge), (70_000, 256, .marge),
            (100, 8192, .large), (1 << 20, 1 << 21, .large),
        ] {
            let p = try heap.allocate(size: size, alignment: alignment)
            #expect(UInt(bitPattern: p) % UInt(alignment) == 0, "size \(size) alignment \(alignment)")
            #expect(heap.region(of: p) == region, "size \(size) alignment \(alignment)")
            try heap.deallocate(p)
        }
        #expect(throws: PasError.invalidAlignment(.allocate, 48)) { try heap.allocate(size: 8, alignment: 48) }
    }

    @Test func reallocateAcrossEveryClassKeepsContents() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        let sizes = [8, 100, 2048, 2049, 9000, 16384, 16385, 100_000, 655_360, 655_361, 3 << 20, 700_000, 20_000, 3000, 40, 1]
        for checked in [true, false] {
            var p = try heap.allocate(size: sizes[0])
            var size = sizes[0]
            for (i, byte) in (0 ..< size).enumerated() {
                p.storeBytes(of: UInt8(truncatingIfNeeded: byte &* 7 &+ i), toByteOffset: byte, as: UInt8.self)
            }
            for next in sizes.dropFirst() {
                let q = checked ? try heap.reallocate(p, to: next) : try #require(heap.reallocateUnchecked(p, to: next))
                let kept = min(size, next)
                for i in 0 ..< kept {
                    if q.load(fromByteOffset: i, as: UInt8.self) != UInt8(truncatingIfNeeded: i &* 8) {
                        Issue.record("byte \(i) lost going from \(size) to \(next) (checked \(checked))")
                        break
                    }
                }
                #expect(try heap.size(of: q) >= next, "size \(next)")
                for i in 0 ..< next { q.storeBytes(of: UInt8(truncatingIfNeeded: i &* 8), toByteOffset: i, as: UInt8.self) }
                p = q
                size = next
            }
            try heap.deallocate(p)
        }
        try heap.verify()
        #expect(heap.statistics.liveBytes == 0)
    }

    @Test func zeroedAllocationIsZeroAndChecksOverflow() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        for size in [64, 4000, 30_000, 1 << 20] {
            let dirty = try heap.allocate(size: size)
            dirty.initializeMemory(as: UInt8.self, repeating: 0xFF, count: size)
            try heap.deallocate(dirty)
            let p = try heap.allocateZeroed(count: 1, size: size)
            #expect((0 ..< size).allSatisfy { p.load(fromByteOffset: $0, as: UInt8.self) == 0 }, "size \(size)")
            try heap.deallocate(p)
        }
        #expect(throws: PasError.invalidSize(.allocate, Int.max)) { try heap.allocateZeroed(count: Int.max / 2, size: 3) }
    }

    @Test func badInputIsATypedError() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try heap.allocate(size: 0) }
        #expect(throws: PasError.invalidSize(.allocate, -5)) { try heap.allocate(size: -5) }
        #expect(throws: PasError.invalidSize(.reserve, 3 << 30)) { try PasHeap(cageBytes: 3 << 30) }
        var local = 0
        let foreign = withUnsafeMutablePointer(to: &local) { UnsafeMutableRawPointer($0) }
        #expect(throws: PasError.unknownPointer(.deallocate, address: UInt(bitPattern: foreign))) { try heap.deallocate(foreign) }
        #expect(!heap.deallocateUnchecked(foreign))
        #expect(heap.usableSizeUnchecked(of: foreign) == 0)
        for size in [100, 5000, 50_000, 1 << 20] {
            let p = try heap.allocate(size: size)
            try heap.deallocate(p)
            #expect(throws: PasError.self, "double free of \(size)") { try heap.deallocate(p) }
        }
        // Unchecked double frees of bitfit and large objects are ignored and counted.
        for size in [50_000, 1 << 20] {
            let p = try #require(heap.allocateUnchecked(size: size))
            #expect(heap.deallocateUnchecked(p))
            let before = heap.ignoredFrees
            #expect(heap.deallocateUnchecked(p))
            #expect(heap.ignoredFrees == before + 1)
        }
        try heap.verify()
    }

    @Test func scavengeGivesEmptyPagesBack() throws {
        let heap = try PasHeap(cageBytes: 1 << 34)
        var ps: [UnsafeMutableRawPointer] = []
        for i in 0 ..< 2000 { ps.append(try heap.allocate(size: [64, 3000, 40_000, 1 << 20][i % 4])) }
        for p in ps { p.storeBytes(of: 1, as: UInt8.self); try heap.deallocate(p) }
        #expect(heap.decommitEmptyPages() > 0)
        try heap.verify()
    }
}

@Suite struct CageTests {
    @Test func everyObjectOfACagedHeapLiesInTheCage() throws {
        let heap = try PasHeap(cageBytes: 256 << 20)
        var random = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15)
        var live: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 3000 {
            let size = 1 + random.next(below: [4096, 40_000, 1 << 20][random.next(below: 3)])
            let p = try heap.allocate(size: size)
            #expect(heap.cage.contains(MemoryRange(start: UInt(bitPattern: p), byteCount: size)), "seed-derived size \(size)")
            live.append(p)
            if live.count > 100 { try heap.deallocate(live.removeFirst()) }
        }
        for p in live { try heap.deallocate(p) }
        try heap.verify()
    }

    @Test func aFullCageRegionThrowsOutOfMemory() throws {
        let heap = try PasHeap(cageBytes: 64 << 20)
        // The large region is 64 - 4 - 4 - 16 = 40 MiB.
        var got: [UnsafeMutableRawPointer] = []
        var failure: PasError? = nil
        for _ in 0 ..< 100 {
            do { got.append(try heap.allocate(size: 4 << 20)) } catch { failure = error; break }
        }
        #expect(failure == .outOfMemory(.allocate, requested: 4 << 20) || failure != nil)
        #expect(got.count >= 8 && got.count < 100)
        for p in got { #expect(heap.contains(p)); try heap.deallocate(p) }
    }

    @Test func clampForcesPointersIntoTheCage() throws {
        let heap = try PasHeap(cageBytes: 256 << 20)
        let p = try heap.allocate(size: 64)
        #expect(heap.clamp(p) == p)
        let outside = UnsafeMutableRawPointer(bitPattern: heap.cage.end + 64)!
        #expect(!heap.contains(outside))
        #expect(heap.clamp(outside) == UnsafeMutableRawPointer(bitPattern: heap.cage.start + 64)!)
        let below = UnsafeMutableRawPointer(bitPattern: heap.cage.start - 16)!
        #expect(heap.contains(heap.clamp(below)))
        try heap.deallocate(p)
    }

    @Test func cageChunkSourceStaysInItsReservation() throws {
        let source = try CageChunkSource(byteCount: 8 << 20, alignment: 1 << 20)
        let a = try source.allocateChunk(byteCount: 1 << 20, alignment: 1 << 20)
        let b = try source.allocateChunk(byteCount: 4096, alignment: 4096)
        let c = try source.allocateChunk(byteCount: 2 << 20, alignment: 2 << 20)
        for r in [a, b, c] { #expect(source.cage.contains(r)); #expect(source.contains(r.start)) }
        #expect(c.start % (2 << 20) == 0)
        #expect(throws: PasError.outOfMemory(.allocate, requested: 8 << 20)) {
            try source.allocateChunk(byteCount: 8 << 20, alignment: 4096)
        }
        a.pointer.storeBytes(of: 7, as: UInt8.self)
        try source.decommit(MemoryRange(start: a.start, byteCount: 4096))
        #expect(a.pointer.load(as: UInt8.self) == 0)
        #expect(throws: PasError.self) { try source.decommit(MemoryRange(start: source.cage.end, byteCount: 4096)) }
        #expect(!source.contains(source.cage.end))
        #expect(
            source.clamp(UnsafeMutableRawPointer(bitPattern: source.cage.end + 8)!) == UnsafeMutableRawPointer(
                bitPattern: source.cage.start + 8)!)
    }
}
