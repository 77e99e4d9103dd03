import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization

/// A chunk source whose chunks have no access at all: any read or write of managed memory
/// by the heap would crash the test. Commit and decommit only count.
final class NoAccessChunkSource: ChunkSource, @unchecked Sendable {
    let pageSize = SystemInfo.pageSize
    var allowsMetadataInChunks: Bool { false }
    /// Protects the counters and the reservation list. Leaf lock.
    private let state = Mutex<(commits: Int, decommits: Int, reservations: [MemoryRange])>((0, 0, []))

    var commits: Int { state.withLock { $0.commits } }
    var decommits: Int { state.withLock { $0.decommits } }

    func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        let r = try VirtualMemory.reserve(byteCount: byteCount, alignment: alignment)
        state.withLock { $0.reservations.append(r) }
        return r
    }

    func decommit(_ range: MemoryRange) throws(PasError) { state.withLock { $0.decommits += 1 } }
    func commit(_ range: MemoryRange) throws(PasError) { state.withLock { $0.commits += 1 } }

    deinit {
        for r in state.withLock({ $0.reservations }) { try? VirtualMemory.release(r) }
    }
}

@Suite struct LargeHeapNoAccessTests {
    @Test func theHeapNeverTouchesManagedMemory() throws {
        let chunks = NoAccessChunkSource()
        let heap = LargeHeap(chunks: chunks, granule: 16, chunkSize: 64 * chunks.pageSize)
        var random = SplitMix64(seed: 0xACCE55)
        var live: [UnsafeMutableRawPointer] = []
        for step in 0 ..< 4000 {
            if live.isEmpty || random.next(below: 5) < 3 {
                let size = random.next(in: 1 ... 300_000)
                let alignment = 16 << random.next(below: 10)
                live.append(
                    try heap.allocate(
                        size: size, alignment: alignment,
                        type: LargeHeapType(rawValue: UInt32(random.next(below: 3)))))
            } else {
                let i = random.next(below: live.count)
                if random.next(below: 4) == 0 {
                    try heap.shrink(live[i], to: max(1, try heap.size(of: live[i]) / 3))
                } else {
                    try heap.deallocate(live.remove(at: i))
                }
            }
            if step % 500 == 0 {
                _ = try heap.decommitEmptyPages()
                #expect(throws: Never.self, "seed 0xACCE55 step \(step)") { try heap.verify() }
            }
        }
        #expect(chunks.decommits > 0 && chunks.commits > 0)
        for p in live { try heap.deallocate(p) }
        try heap.verify()
    }

    @Test func metadataGrowsInItsOwnPages() throws {
        let chunks = NoAccessChunkSource()
        let heap = LargeHeap(chunks: chunks, granule: 16, chunkSize: 256 * chunks.pageSize)
        _ = try heap.allocate(size: 16)
        let initialMetadata = heap.statistics.metadataBytes
        var objects: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 20_000 { objects.append(try heap.allocate(size: 32)) }
        // Free every other object: 10,000 separate free ranges.
        for i in stride(from: 0, to: objects.count, by: 2) { try heap.deallocate(objects[i]) }
        let s = heap.statistics
        #expect(s.objectCount == 10_001)
        #expect(s.freeRangeCount >= 10_000)
        #expect(s.metadataBytes > initialMetadata)
        try heap.verify()
        for i in stride(from: 1, to: objects.count, by: 2) {
            #expect(try heap.size(of: objects[i]) == 32)
            try heap.deallocate(objects[i])
        }
        #expect(heap.statistics.freeRangeCount == 1)
        try heap.verify()
    }
}
