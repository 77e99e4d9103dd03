import Testing
import Pas
import PasSystem
import PasTestSupport

/// Random operation sequences checked against a simple model (the set of live objects and
/// their contents), with verify() along the way.
@Suite struct SegregatedModelTests {
    static func run<Config: SegregatedHeapConfig>(
        _ heap: SegregatedHeap<Config, ReservationChunkSource<SystemPageSource>>,
        seed: UInt64, steps: Int, maxSize: Int
    ) throws {
        var random = SplitMix64(seed: seed)
        var live: [(UnsafeMutableRawPointer, Int, UInt8)] = []
        for step in 0 ..< steps {
            switch random.next(below: 100) {
            case 0 ..< 55:
                let size = 1 + (random.next(below: 4) == 0 ? random.next(below: maxSize) : random.next(below: 256))
                let p = random.next(below: 2) == 0 ? try heap.allocate(size: size) : heap.allocateUnchecked(size: size)!
                let tag = UInt8(truncatingIfNeeded: step)
                p.initializeMemory(as: UInt8.self, repeating: tag, count: size)
                live.append((p, size, tag))
            case 55 ..< 95 where !live.isEmpty:
                let (p, size, tag) = live.remove(at: random.next(below: live.count))
                #expect(
                    p.load(as: UInt8.self) == tag && p.load(fromByteOffset: size - 1, as: UInt8.self) == tag,
                    "contents changed, seed \(seed) step \(step)")
                #expect(try heap.size(of: p) >= size, "seed \(seed) step \(step)")
                if random.next(below: 2) == 0 { try heap.deallocate(p) } else { heap.deallocateUnchecked(p) }
            case 95 ..< 97:
                heap.flushThreadCache()
            case 97:
                _ = try heap.decommitEmptyPages()
            default:
                try heap.verify()
                #expect(heap.statistics.objectsInUse == live.count, "seed \(seed) step \(step)")
            }
        }
        for (p, _, _) in live { try heap.deallocate(p) }
        heap.flushThreadCache()
        try heap.verify()
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.ownedPages == 0 && s.lateDoubleFrees == 0, "seed \(seed)")
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func smallPagesFollowTheModel(seed: UInt64) throws {
        try Self.run(try SmallHeap(), seed: seed, steps: 20_000, maxSize: 2048)
    }

    @Test(arguments: [UInt64(11), 12])
    func mediumPagesFollowTheModel(seed: UInt64) throws {
        try Self.run(try MediumHeap(), seed: seed, steps: 10_000, maxSize: 16384)
    }

    @Test func exclusivePagesFollowTheModel() throws {
        try Self.run(try SmallHeap(coldStart: false), seed: 99, steps: 20_000, maxSize: 2048)
    }
}
