import Testing
import Pas
import PasJIT
import PasSystem
import PasTestSupport

/// The JIT heap's three sub-heaps report to a page sharing pool; its scavenger punches
/// empty code pages out of the code file without being asked.
@Suite struct JITScavengerTests {
    @Test func freedCodeLeavesTheCodeFileWithoutAnExplicitScavenge() async throws {
        let pool = PageSharingPool() // real clock, 300 ms delay, background thread
        defer { pool.stopScavengerThread() }
        let heap = try JITHeap(options: .init(regionSize: 64 << 20, pageSharing: pool))
        #expect(pool.participantCount == 3)
        // Oldest first: small, medium and large blocks, every byte written.
        var blocks: [CodeBlock] = []
        let sizes =
            Array(repeating: 1024, count: 6000) + Array(repeating: 32 << 10, count: 160)
            + Array(repeating: 256 << 10, count: 16)
        var order: [Int] = Array(sizes.indices)
        let seed = UInt64.random(in: 0 ... .max)
        var random = SplitMix64(seed: seed)
        order.shuffle(using: &random)
        for i in order {
            let b = try heap.allocate(size: sizes[i])
            _ = try heap.withWritableBytes(of: b) { buffer in buffer.initializeMemory(as: UInt8.self, repeating: 0xC3) }
            blocks.append(b)
        }
        let written = heap.statistics.residentCodeBytes ?? 0
        #expect(written >= heap.statistics.liveBytes)
        let freed = blocks.count * 9 / 10
        for b in blocks[0 ..< freed] { try heap.deallocate(b) }
        let live = heap.statistics.liveBytes
        var resident = 0
        let dropped = await poll(everyMilliseconds: 50, upTo: 1500) {
            resident = heap.statistics.residentCodeBytes ?? 0
            return resident < written / 4
        }
        #expect(
            dropped,
            "seed \(seed): code file holds \(resident >> 10) KiB of \(written >> 10) KiB written, live \(live >> 10) KiB; \(pool.statistics)"
        )
        #expect(heap.statistics.decommittedBytes > 0)
        #expect(pool.statistics.failureCount == 0)
        // The surviving blocks still hold their code; freed pages come back on reuse.
        for b in blocks[freed...] {
            let first = try heap.withWritableBytes(of: b) { $0[0] }
            #expect(first == 0xC3)
        }
        let again = try heap.allocate(size: 1024)
        try heap.copy([0xC3], into: again)
        try heap.verify()
    }

    @Test func optionsWithoutAPoolKeepPagesUntilScavenge() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let b = try heap.allocate(size: 64 << 10)
        try heap.copy([UInt8](repeating: 0xC3, count: 64 << 10), into: b)
        try heap.deallocate(b)
        #expect((heap.statistics.residentCodeBytes ?? 0) > 0)
        #expect(try heap.decommitEmptyPages() > 0)
        #expect(heap.statistics.residentCodeBytes == 0)
    }

    @Test func perHeapDelayFromTheOptions() throws {
        let clock = ManualTimeSource()
        let pool = PageSharingPool(timeSource: clock, usesBackgroundThread: false)
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: pool, scavengeDelay: .milliseconds(10)))
        let b = try heap.allocate(size: 1024)
        try heap.copy([0xC3], into: b)
        try heap.deallocate(b)
        clock.advance(milliseconds: 9)
        #expect(pool.scavengeExpiredPages().decommittedBytes == 0)
        clock.advance(milliseconds: 2)
        #expect(pool.scavengeExpiredPages().decommittedBytes > 0)
        #expect(heap.statistics.residentCodeBytes == 0)
        try heap.verify()
    }
}
