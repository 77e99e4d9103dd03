import Testing
import PasJIT
import PasSystem
import PasTestSupport

/// Calls `block` as a C function `int32_t f(void)` (see `callCode`).
func call(_ block: CodeBlock) -> Int32 { callCode(block.pointer) }

let trapByte: UInt8 = {
    #if arch(arm64)
    return 0x00
    #else
    return 0xCC
    #endif
}()

@Suite struct JITHeapModeTests {
    @Test(arguments: ProtectionMode.allCases)
    func allocateWriteRun(mode: ProtectionMode) throws {
        let heap = try JITHeap(options: .mode(mode, regionSize: 4 << 20))
        #expect(heap.protectionMode == mode)
        var blocks: [(CodeBlock, Int32)] = []
        for i in 0 ..< 50 {
            let b = try heap.allocate(size: 16 + i * 7)
            try heap.copy(returnConstant(Int32(i * 3)), into: b)
            blocks.append((b, Int32(i * 3)))
        }
        for (b, v) in blocks { #expect(call(b) == v) }
        let perms = try #require(ProcessMaps.permissions(of: blocks[0].0.address))
        switch mode {
        case .dualMapped: #expect(perms.hasPrefix("r-x"))
        case .rwx: #expect(perms.hasPrefix("rwx"))
        case .toggled: #expect(perms.hasPrefix("r-x"), "toggled region must be RX outside write scopes")
        }
        for (b, _) in blocks { try heap.deallocate(b) }
        try heap.verify()
        #expect(heap.statistics.blockCount == 0)
    }

    /// While a write scope is open, no mapping anywhere in the process that overlaps the
    /// heap's code region or its writable alias is both writable and executable (dual-mapped
    /// mode). The same check run on an `.rwx` heap finds its region, so it can fail.
    @Test(arguments: [ProtectionMode.dualMapped, .rwx])
    func neverWritableAndExecutableDuringAWriteScope(mode: ProtectionMode) throws {
        let regionSize = 1 << 20
        let heap = try JITHeap(options: .init(regionSize: regionSize, protectionModes: [mode], pageSharing: nil))
        let b = try heap.allocate(size: 64)
        var violations: [String] = []
        var checked = 0
        try heap.withWritableBytes(of: b) { buffer in
            let alias = UInt(bitPattern: buffer.baseAddress!)
            // The region starts on a 2 MiB boundary; its first chunk (and so `b`) at its start.
            let region = MemoryRange(start: b.address & ~UInt((2 << 20) - 1), byteCount: regionSize)
            let writable = MemoryRange(start: region.start &+ (alias &- b.address), byteCount: regionSize)
            if mode == .dualMapped {
                #expect(alias != b.address)
                #expect(ProcessMaps.permissions(of: alias)?.hasPrefix("rw-") == true)
            }
            for e in ProcessMaps.entries() {
                let range = MemoryRange(start: e.start, byteCount: Int(e.end - e.start))
                guard range.overlaps(region) || range.overlaps(writable) else { continue }
                checked += 1
                if e.permissions.contains("w") && e.permissions.contains("x") { violations.append("\(range) \(e.permissions)") }
            }
            buffer.copyBytes(from: returnConstant(7))
        }
        #expect(call(b) == 7)
        #expect(checked > 0)
        if mode == .dualMapped {
            #expect(violations.isEmpty, "writable and executable during a write scope: \(violations)")
        } else {
            #expect(!violations.isEmpty, "the check must see the RWX region")
        }
    }

    @Test func regionTooBigIsOutOfMemoryNotARefusedMode() throws {
        // A region the address space cannot hold is not a mode the system refused: no other
        // mode is tried (it would not fit either) and the error says what did not fit.
        let options = JITHeap.Options(regionSize: Int.max / 2, protectionModes: [.dualMapped, .toggled])
        #expect(throws: PasError.outOfMemory(.reserve, requested: Int.max / 2)) { try JITHeap(options: options) }
        #expect(throws: PasError.self) { try JITHeap(options: .init(protectionModes: [])) }
    }
}

@Suite struct JITHeapAPITests {
    @Test func sizeShrinkAndFill() throws {
        let heap = try JITHeap(options: .init(regionSize: 8 << 20, pageSharing: nil))
        for request in [1, 16, 100, 1000, 5000, 40_000, 300_000, 3 << 20] {
            let b = try heap.allocate(size: request)
            let size = try heap.size(of: b)
            #expect(size >= request)
            _ = try heap.withWritableBytes(of: b) { $0.initializeMemory(as: UInt8.self, repeating: 0x90) }
            let half = max(1, request / 2)
            try heap.shrink(b, to: half)
            let shrunk = try heap.size(of: b)
            #expect(shrunk >= half && shrunk <= size)
            let bytes = UnsafePointer<UInt8>(bitPattern: b.address)!
            if shrunk < size { #expect(bytes[shrunk] == trapByte, "freed tail is filled (request \(request))") }
            #expect(bytes[0] == 0x90)
            try heap.deallocate(b)
        }
        try heap.verify()
    }

    /// Freed code reads as traps while its page is committed, and is not accessible at all
    /// once the page is given back. No page sharing pool, so no scavenger runs in between.
    @Test func freedCodeIsFilledWithTraps() throws {
        let heap = try JITHeap(options: .init(regionSize: 1 << 20, pageSharing: nil))
        let b = try heap.allocate(size: 64)
        try heap.copy(returnConstant(1), into: b)
        try heap.deallocate(b)
        let bytes = UnsafePointer<UInt8>(bitPattern: b.address)!
        for i in 0 ..< 64 { #expect(bytes[i] == trapByte) }
        #expect(try heap.decommitEmptyPages() > 0)
        let perms = ProcessMaps.permissions(of: b.address) ?? "unmapped"
        #expect(perms.hasPrefix("---"), "a decommitted code page is \(perms)")
    }

    @Test func alignment() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 16 << 20))
        for align in [16, 32, 64, 256, 4096, 1 << 16] {
            let b = try heap.allocate(size: 48, alignment: align)
            #expect(b.address % UInt(align) == 0)
            try heap.deallocate(b)
        }
    }

    @Test func badInput() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 1 << 20))
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try heap.allocate(size: 0) }
        #expect(throws: PasError.invalidSize(.allocate, -1)) { try heap.allocate(size: -1) }
        #expect(throws: PasError.invalidSize(.allocate, Int.max)) { try heap.allocate(size: Int.max) }
        #expect(throws: PasError.invalidAlignment(.allocate, 24)) { try heap.allocate(size: 16, alignment: 24) }
        let b = try heap.allocate(size: 64)
        #expect(throws: PasError.outOfBounds(.write, address: b.address + 60, byteCount: 8)) {
            try heap.copy([UInt8](repeating: 0, count: 8), into: b, at: 60)
        }
        #expect(throws: PasError.self) { try heap.copy([1], into: b, at: -1) }
        #expect(throws: PasError.self) { try heap.shrink(b, to: 0) }
        #expect(throws: PasError.self) { try heap.shrink(b, to: 1 << 20) }
        let stranger = CodeBlock(address: 0x1000)
        #expect(throws: PasError.unknownPointer(.sizeQuery, address: 0x1000)) { try heap.size(of: stranger) }
        #expect(throws: PasError.self) { try heap.deallocate(stranger) }
        #expect(throws: PasError.self) { try heap.deallocate(CodeBlock(address: b.address + 16)) }
        try heap.deallocate(b)
        #expect(throws: PasError.self) { try heap.deallocate(b) }
        #expect(throws: PasError.self) { try heap.copy([1], into: b) }
        // Another heap's block.
        let other = try JITHeap(options: .mode(.dualMapped, regionSize: 1 << 20))
        let ob = try other.allocate(size: 32)
        #expect(throws: PasError.self) { try heap.deallocate(ob) }
        #expect(!heap.contains(ob.address))
        #expect(other.contains(ob.address))
        try heap.verify()
        try other.verify()
    }

    @Test func exhaustionIsAnErrorNotACrash() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 1 << 20))
        var blocks: [CodeBlock] = []
        var failure: PasError? = nil
        while failure == nil {
            do { blocks.append(try heap.allocate(size: 8192)) } catch { failure = error }
        }
        #expect(blocks.count > 0)
        if case .outOfMemory = failure! {} else { Issue.record("expected outOfMemory, got \(failure!)") }
        for b in blocks { try heap.deallocate(b) }
        _ = try heap.allocate(size: 8192)
        try heap.verify()
    }

    @Test func noAllocatorMetadataInCodeMemory() throws {
        // With no fill pattern the allocator writes code memory only to trap-fill the pages it
        // commits: after many allocations, shrinks and frees (none of them written), every
        // accessible word of the code memory handed out is still the trap.
        let heap = try JITHeap(options: .init(regionSize: 16 << 20, fillPattern: .none, pageSharing: nil))
        var blocks: [CodeBlock] = []
        for i in 0 ..< 2000 { blocks.append(try heap.allocate(size: 16 + (i * 37) % 3000)) }
        blocks.append(try heap.allocate(size: 2 << 20))
        for (i, b) in blocks.enumerated() where i % 3 == 0 { try heap.shrink(b, to: 16) }
        for (i, b) in blocks.enumerated() where i % 2 == 0 { try heap.deallocate(b) }
        let start = blocks[0].address & ~UInt((2 << 20) - 1)
        let used = heap.statistics.usedAddressSpace
        let readable = ProcessMaps.entries().filter { $0.permissions.hasPrefix("r") }
        var checked = 0, other = 0
        let page = SystemInfo.pageSize
        for offset in stride(from: 0, to: used, by: page) {
            let address = start + UInt(offset)
            guard readable.contains(where: { address >= $0.start && address < $0.end }) else { continue }
            let words = UnsafePointer<UInt32>(bitPattern: address)!
            for i in 0 ..< page / 4 where words[i] != trapWord { other += 1 }
            checked += page / 4
        }
        #expect(checked > 0)
        #expect(other == 0, "\(other) of \(checked) words of code memory are not the commit fill")
        try heap.verify()
    }

    @Test func addFreshMemory() throws {
        let page = SystemInfo.pageSize
        // Chunks are aligned to their size (up to 1 MiB): give an aligned, roomy range.
        let mapping = try DualMapping(byteCount: 4 << 20, alignment: 2 << 20)
        let heap = try JITHeap(options: .init(reservesRegion: false))
        #expect(throws: PasError.self) { try heap.allocate(size: 64) }
        try heap.addFreshMemory(executable: mapping.executable, writable: mapping.writable.pointer)
        let b = try heap.allocate(size: 64)
        #expect(mapping.executable.contains(b.address))
        try heap.copy(returnConstant(99), into: b)
        #expect(call(b) == 99)
        #expect(throws: PasError.self) {
            try heap.addFreshMemory(executable: mapping.executable, writable: mapping.writable.pointer)
        }
        #expect(throws: PasError.self) { try heap.addFreshMemory(executable: MemoryRange(start: 0x1001, byteCount: page)) }
        try heap.deallocate(b)
    }

    @Test func scavengeReturnsFreedCodePages() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 64 << 20))
        var blocks: [CodeBlock] = []
        for i in 0 ..< 4000 {
            let b = try heap.allocate(size: 2048 + (i % 5) * 512)
            _ = try heap.withWritableBytes(of: b) { $0.initializeMemory(as: UInt8.self, repeating: 0xC3) }
            blocks.append(b)
        }
        let before = heap.statistics.residentCodeBytes ?? 0
        // Free the oldest 90%.
        for b in blocks.prefix(3600) { try heap.deallocate(b) }
        let freed = try heap.decommitEmptyPages()
        let after = heap.statistics.residentCodeBytes ?? 0
        #expect(freed > 0)
        #expect(after < before / 4, "resident code \(before) -> \(after)")
        // Decommitted pages are reused transparently.
        let b = try heap.allocate(size: 4096)
        try heap.copy(returnConstant(5), into: b)
        #expect(call(b) == 5)
        try heap.verify()
    }
}

@Suite struct JITHeapStressTests {
    @Test func threadsAllocateWriteRunFree() throws {
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 64 << 20))
        final class Failures: @unchecked Sendable { var count = 0; let lock = NSLockLike() }
        let failures = Failures()
        onThreads(4) { t in
            var rng = SplitMix64(seed: UInt64(t + 1))
            var live: [(CodeBlock, Int32)] = []
            for i in 0 ..< 3000 {
                if live.count > 50 || (rng.next() % 3 == 0 && !live.isEmpty) {
                    let k = Int(rng.next() % UInt64(live.count))
                    let (b, v) = live.swapAt(k)
                    if call(b) != v { failures.lock.withLock { failures.count += 1 } }
                    try! heap.deallocate(b)
                } else {
                    let size = 16 + Int(rng.next() % 20_000)
                    let b = try! heap.allocate(size: size)
                    let v = Int32(t * 100_000 + i)
                    try! heap.copy(returnConstant(v), into: b)
                    live.append((b, v))
                }
            }
            for (b, v) in live {
                if call(b) != v { failures.lock.withLock { failures.count += 1 } }
                try! heap.deallocate(b)
            }
        }
        #expect(failures.count == 0)
        try heap.verify()
        #expect(heap.statistics.blockCount == 0)
    }
}

extension Array {
    mutating func swapAt(_ k: Int) -> Element {
        swapAt(k, count - 1)
        return removeLast()
    }
}

import Synchronization
final class NSLockLike: @unchecked Sendable {
    let m = Mutex(())
    func withLock<R>(_ body: () -> R) -> R { m.withLock { _ in body() } }
}
