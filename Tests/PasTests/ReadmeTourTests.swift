import Testing
import Pas
import PasSystem

/// The README's toolkit tour, compiled and run, so the README stays true.
@Suite struct ReadmeTourTests {
    struct Node { var key: Int; var next: UnsafeMutablePointer<Node>? }

    @Test func toolkitTour() throws {
        let heap = try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>()
        let p = try heap.allocate(size: 48)
        try heap.deallocate(p)
        let q = heap.allocateUnchecked(size: 48)!
        heap.deallocateUnchecked(q)

        let nodes = try SystemIsoHeap<Node>()
        let n = try nodes.create(Node(key: 1, next: nil))
        #expect(n.pointee.key == 1)
        try nodes.destroy(n)

        let bitfit = BitfitHeap<MargeBitfitConfig, ReservationChunkSource<SystemPageSource>>(
            chunks: ReservationChunkSource(source: SystemPageSource.shared))
        let big = try bitfit.allocate(size: 300_000)
        try bitfit.shrink(big, to: 100_000)
        try bitfit.deallocate(big)

        let large = LargeHeap(chunks: ReservationChunkSource(source: SystemPageSource.shared))
        let buffer = try large.allocate(size: 8 << 20, alignment: 1 << 20)
        #expect(UInt(bitPattern: buffer) % (1 << 20) == 0)
        try large.deallocate(buffer)

        let pages = SystemPageSource.shared
        let range = try pages.reserve(byteCount: 1 << 20, alignment: 1 << 16)
        try pages.commit(range, protection: .readWrite)
        try pages.decommit(range)
        try pages.release(range)
        #expect(throws: PasError.notReserved(.release, address: range.start)) { try pages.release(range) }
        let code = try DualMapping(byteCount: 1 << 20)
        try code.decommit(code.executable)
    }
}

@Suite struct ReadmePageSharingTourTests {
    @Test func pageSharingTour() throws {
        let pool = PageSharingPool.shared
        _ = pool.scavenge()
        _ = pool.statistics
        let quiet = try SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>(pageSharing: nil)
        #expect(quiet.pageSharing == nil)
    }
}

@Suite struct ReadmeFacadeTourTests {
    @Test func facadeTour() throws {
        let general = try PasHeap(cageBytes: 1 << 34)
        var buffer2 = try general.allocate(size: 100)
        buffer2 = try general.reallocate(buffer2, to: 100_000)
        #expect(general.contains(buffer2))
        #expect(general.region(of: buffer2) == .marge)
        try general.deallocate(buffer2)
    }
}
