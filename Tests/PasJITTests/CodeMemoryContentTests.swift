import Testing
import PasTestSupport
import PasJIT
import PasSystem

@Suite struct CodeMemoryContentTests {
    /// After a random allocate / install / shrink / free sequence, every byte of the code
    /// memory handed to the allocators is either what the test wrote into a live block, the
    /// trap fill of freed code, or zero (never touched): the allocator keeps nothing there.
    @Test func everyByteIsTestDataFillOrZero() throws {
        let seed = UInt64.random(in: 1 ... .max)
        var rng = SplitMix64(seed: seed)
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 32 << 20))
        // written: bytes the test wrote and still owns; size: the block's usable size.
        var live: [UInt: (size: Int, written: Int, byte: UInt8)] = [:]
        var base: UInt? = nil
        for step in 0 ..< 4000 {
            let r = rng.next() % 10
            if r < 5 || live.isEmpty {
                let size = 1 + Int(rng.next() % (rng.next() % 8 == 0 ? 200_000 : 3000))
                let byte = UInt8(1 + step % 200) // never 0 or 0xCC
                let b = try heap.install([UInt8](repeating: byte, count: size))
                #expect(live[b.address] == nil, "seed \(seed)")
                // The region starts on a 2 MiB boundary and the first chunk is at its start.
                if base == nil { base = b.address & ~UInt((2 << 20) - 1) }
                live[b.address] = (try heap.size(of: b), size, byte)
            } else if r < 7 {
                let (address, entry) = live.randomElement(using: &rng)!
                let newSize = 1 + Int(rng.next() % UInt64(entry.size))
                try heap.shrink(CodeBlock(address: address), to: newSize)
                live[address] = (try heap.size(of: CodeBlock(address: address)), min(newSize, entry.written), entry.byte)
            } else {
                let (address, _) = live.randomElement(using: &rng)!
                try heap.deallocate(CodeBlock(address: address))
                live[address] = nil
            }
        }
        try heap.verify()
        // Map every live byte, then scan the used part of the region.
        let used = heap.statistics.usedAddressSpace
        let sorted = live.sorted { $0.key < $1.key }
        let regionStart = try #require(base)
        var bad = 0
        var next = 0
        let bytes = UnsafePointer<UInt8>(bitPattern: regionStart)!
        for offset in 0 ..< used {
            let address = regionStart + UInt(offset)
            while next < sorted.count, sorted[next].key + UInt(sorted[next].value.size) <= address { next += 1 }
            let b = bytes[offset]
            if next < sorted.count, address >= sorted[next].key {
                let entry = sorted[next].value
                if address < sorted[next].key + UInt(entry.written) {
                    if b != entry.byte { bad += 1 }
                } else if b != entry.byte && b != 0 && b != trapByte {
                    bad += 1
                }
            } else if b != 0 && b != trapByte {
                bad += 1
            }
        }
        #expect(bad == 0, "\(bad) bytes of code memory hold neither test data, fill nor zero (seed \(seed))")
        #expect(heap.statistics.blockCount == live.count)
    }

    @Test func installRejectsEmptyCode() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 1 << 20))
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try heap.install([]) }
        let b = try heap.install(returnConstant(11))
        #expect(call(b) == 11)
        #expect(try heap.size(of: b) >= 6)
    }
}


@Suite struct JITHeapStatisticsTests {
    @Test func statisticsAddUp() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 16 << 20))
        let empty = heap.statistics
        #expect(empty.liveBytes == 0 && empty.blockCount == 0 && empty.fragmentation == 0)
        #expect(empty.reservedBytes == 16 << 20)
        var blocks: [CodeBlock] = []
        for size in [16, 100, 2000, 5000, 60_000, 500_000] { blocks.append(try heap.install([UInt8](repeating: 0xC3, count: size))) }
        let s = heap.statistics
        let sizes = try blocks.map { try heap.size(of: $0) }.reduce(0, +)
        #expect(s.blockCount == blocks.count)
        #expect(s.liveBytes == sizes)
        #expect(s.liveBytes + s.freeBytes <= s.committedBytes, "\(s)")
        #expect(s.freeBytes <= s.committedBytes)
        #expect(s.fragmentation > 0 && s.fragmentation < 1)
        #expect(s.usedAddressSpace >= s.committedBytes)
        #expect((s.residentCodeBytes ?? 0) >= sizes / 2)
        for b in blocks { try heap.deallocate(b) }
        #expect(heap.statistics.liveBytes == 0)
    }
}
