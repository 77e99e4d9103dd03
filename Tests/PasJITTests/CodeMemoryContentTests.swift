import Testing
import PasTestSupport
import PasJIT
import PasSystem

@Suite struct CodeMemoryContentTests {
    /// After a random allocate / install / shrink / free sequence and a scavenge, every
    /// accessible byte of the code memory handed to the allocators is either what the test
    /// wrote into a live block or the trap fill (of freed code, or of a freshly committed page):
    /// the allocator keeps nothing there, and no byte of it reads zero. Pages given back are
    /// not accessible at all and hold no live block. No page sharing pool, so no scavenger
    /// changes the memory while it is scanned.
    @Test func everyAccessibleByteIsTestDataOrFill() throws {
        let seed = UInt64.random(in: 1 ... .max)
        var rng = SplitMix64(seed: seed)
        let heap = try JITHeap(options: .init(regionSize: 32 << 20, pageSharing: nil))
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
        #expect(try heap.decommitEmptyPages() > 0)
        // Map every live byte, then scan the used part of the region, page by page.
        let used = heap.statistics.usedAddressSpace
        let sorted = live.sorted { $0.key < $1.key }
        let regionStart = try #require(base)
        let readable = ProcessMaps.entries().filter { $0.permissions.hasPrefix("r") }
        let page = SystemInfo.pageSize
        var bad = 0, zero = 0, liveButInaccessible = 0, inaccessiblePages = 0
        var next = 0
        let bytes = UnsafePointer<UInt8>(bitPattern: regionStart)!
        for pageOffset in stride(from: 0, to: used, by: page) {
            let pageAddress = regionStart + UInt(pageOffset)
            let accessible = readable.contains { pageAddress >= $0.start && pageAddress < $0.end }
            if !accessible { inaccessiblePages += 1 }
            for offset in pageOffset ..< pageOffset + page {
                let address = regionStart + UInt(offset)
                while next < sorted.count, sorted[next].key + UInt(sorted[next].value.size) <= address { next += 1 }
                let inBlock = next < sorted.count && address >= sorted[next].key
                guard accessible else {
                    if inBlock { liveButInaccessible += 1 }
                    continue
                }
                let b = bytes[offset]
                if b == 0 { zero += 1 }
                if inBlock {
                    let entry = sorted[next].value
                    if address < sorted[next].key + UInt(entry.written) {
                        if b != entry.byte { bad += 1 }
                    } else if b != entry.byte && b != trapByte {
                        bad += 1
                    }
                } else if b != trapByte {
                    bad += 1
                }
            }
        }
        #expect(bad == 0, "\(bad) bytes of code memory hold neither test data nor fill (\(zero) read zero; seed \(seed))")
        #expect(liveButInaccessible == 0, "\(liveButInaccessible) bytes of live blocks are not accessible (seed \(seed))")
        #expect(inaccessiblePages > 0, "the scavenge gave no page back (seed \(seed))")
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
        for size in [16, 100, 2000, 5000, 60_000, 500_000] {
            blocks.append(try heap.install([UInt8](repeating: 0xC3, count: size)))
        }
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
