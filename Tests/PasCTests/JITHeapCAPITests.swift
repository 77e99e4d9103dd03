import Testing
@testable import PasC
import PasJIT
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Options with a small region and the given modes.
func options(
    regionSize: UInt64 = 4 << 20, modes: [CProtectionMode] = [.dualMapped],
    fill: CFill = .trap, fillByte: UInt32 = 0
) -> CJITHeapOptions {
    var o = CJITHeapOptions()
    o.regionSize = regionSize
    let m = modes.map(\.rawValue) + [0, 0, 0, 0]
    o.protectionModes = (m[0], m[1], m[2], m[3])
    o.fill = fill.rawValue
    o.fillByte = fillByte
    return o
}

func create(_ o: CJITHeapOptions) -> UnsafeMutableRawPointer? {
    withUnsafeBytes(of: o) { pas_jit_heap_create($0.baseAddress) }
}

func write(_ heap: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?, _ bytes: [UInt8], at offset: UInt = 0) -> Int32 {
    bytes.withUnsafeBytes { pas_jit_heap_write(heap, block, offset, $0.baseAddress, UInt($0.count)) }
}

func statistics(_ heap: UnsafeMutableRawPointer?) -> CJITHeapStatistics {
    var s = CJITHeapStatistics()
    let status = withUnsafeMutableBytes(of: &s) { pas_jit_heap_get_statistics(heap, $0.baseAddress) }
    precondition(status == 0)
    return s
}

let ok = PasErrorCode.ok.rawValue

@Suite struct JITHeapCAPITests {
    @Test func structLayoutsMatchTheHeader() {
        #expect(MemoryLayout<CJITHeapOptions>.size == 40)
        #expect(MemoryLayout<CJITHeapOptions>.offset(of: \.protectionModes) == 8)
        #expect(MemoryLayout<CJITHeapOptions>.offset(of: \.fill) == 24)
        #expect(MemoryLayout<CJITHeapOptions>.offset(of: \.fillByte) == 28)
        #expect(MemoryLayout<CJITHeapOptions>.offset(of: \.reserved) == 32)
        #expect(MemoryLayout<CJITHeapStatistics>.size == 56)
        #expect(MemoryLayout<CJITHeapStatistics>.offset(of: \.reservedBytes) == 8)
        #expect(MemoryLayout<CJITHeapStatistics>.offset(of: \.residentCodeBytes) == 48)
    }

    @Test func optionsInitWritesTheDefaults() {
        var o = options(regionSize: 1, modes: [.rwx, .toggled], fill: .byte, fillByte: 7)
        withUnsafeMutableBytes(of: &o) { pas_jit_heap_options_init($0.baseAddress) }
        #expect(o == CJITHeapOptions())
        #expect(o.regionSize == 256 << 20)
        #expect(o.protectionModes == (1, 0, 0, 0))
        pas_jit_heap_options_init(nil) // ignored, no crash
    }

    @Test(arguments: [CProtectionMode.dualMapped, .rwx, .toggled])
    func allocateWriteRunShrinkFree(mode: CProtectionMode) throws {
        let heap = try #require(create(options(modes: [mode])))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        #expect(pas_jit_heap_protection_mode(heap) == mode.rawValue)
        var blocks: [(UnsafeMutableRawPointer, UInt16)] = []
        for i in 0 ..< 40 {
            let size = UInt(8 + i * 37)
            let block = try #require(pas_jit_heap_allocate(heap, size, 0))
            #expect(UInt(bitPattern: block) % 16 == 0)
            #expect(pas_jit_heap_get_size(heap, block) >= size)
            #expect(write(heap, block, returnConstant(Int32(i * 5))) == ok)
            blocks.append((block, UInt16(i * 5)))
        }
        for (b, v) in blocks { #expect(callCode(b) == Int32(v)) }
        #expect(statistics(heap).blockCount == 40)
        for (b, v) in blocks where pas_jit_heap_get_size(heap, b) > 16 {
            #expect(pas_jit_heap_shrink(heap, b, 8) == ok)
            #expect(callCode(b) == Int32(v))
        }
        for (b, _) in blocks { #expect(pas_jit_heap_deallocate(heap, b) == ok) }
        #expect(pas_jit_heap_verify(heap) == ok)
        let s = statistics(heap)
        #expect(s.blockCount == 0 && s.liveBytes == 0)
        #expect(s.protectionMode == mode.rawValue)
    }

    @Test func destroyUnmapsTheRegionWithLiveBlocks() throws {
        let heap = try #require(create(options(regionSize: 6 << 20, modes: [.dualMapped])))
        let blocks = (0 ..< 10).compactMap { _ in pas_jit_heap_allocate(heap, 512, 0) }
        #expect(blocks.count == 10)
        let address = UInt(bitPattern: blocks[0])
        let before = try #require(ProcessMaps.entries().first { $0.start <= address && address < $0.end })
        #expect(before.permissions.hasPrefix("r-x") && before.inode != 0)
        #expect(pas_jit_heap_destroy(heap) == ok)
        // Matched by its memory file too: a heap that another test creates meanwhile may get the
        // same addresses.
        let after = ProcessMaps.entries().first { $0.start == before.start && $0.end == before.end && $0.inode == before.inode }
        #expect(after == nil, "the heap's executable view is still mapped after destroy")
    }

    @Test func writableBytesCallbackSeesTheWholeBlock() throws {
        let heap = try #require(create(options()))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        let block = try #require(pas_jit_heap_allocate(heap, 100, 64))
        #expect(UInt(bitPattern: block) % 64 == 0)
        var seen: UInt = 0
        let status = withUnsafeMutablePointer(to: &seen) { context in
            pas_jit_heap_with_writable_bytes(
                heap, block,
                { writable, size, context in
                    context!.storeBytes(of: size, as: UInt.self)
                    let code = returnConstant(321)
                    for (i, byte) in code.enumerated() { writable!.storeBytes(of: byte, toByteOffset: i, as: UInt8.self) }
                }, context)
        }
        #expect(status == ok)
        #expect(seen == pas_jit_heap_get_size(heap, block))
        #expect(callCode(block) == 321)
    }

    @Test func fillByteOverwritesFreedCode() throws {
        let heap = try #require(create(options(modes: [.dualMapped], fill: .byte, fillByte: 0xA5)))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        let block = try #require(pas_jit_heap_allocate(heap, 32, 0))
        #expect(write(heap, block, returnConstant(1)) == ok)
        #expect(pas_jit_heap_deallocate(heap, block) == ok)
        // The executable view is readable.
        let bytes = (0 ..< 32).map { block.load(fromByteOffset: $0, as: UInt8.self) }
        #expect(bytes.allSatisfy { $0 == 0xA5 })
    }

    @Test func badOptionsAreRefused() {
        pas_clear_last_error()
        #expect(create(options(modes: [CProtectionMode(rawValue: 0)!])) == nil)
        #expect(pas_last_error() == PasErrorCode.invalidArgument.rawValue)
        var o = options()
        o.protectionModes = (77, 0, 0, 0)
        #expect(create(o) == nil)
        #expect(pas_last_error() == PasErrorCode.invalidArgument.rawValue)
        #expect(String(cString: pas_last_error_message()).contains("unknown protection mode 77"))
        o = options(fill: .byte, fillByte: 256)
        #expect(create(o) == nil)
        o = options()
        o.fill = 9
        #expect(create(o) == nil)
        o = options()
        o.regionSize = UInt64.max
        #expect(create(o) == nil)
        #expect(pas_last_error() == PasErrorCode.invalidArgument.rawValue)
        #expect(create(options(regionSize: 1 << 62)) == nil)
        #expect(pas_last_error() == PasErrorCode.outOfMemory.rawValue)
        #expect(String(cString: pas_last_error_message()).contains("\(UInt64(1) << 62)"))
        pas_clear_last_error()
    }

    @Test func defaultOptionsGiveADualMappedHeap() throws {
        let heap = try #require(pas_jit_heap_create(nil))
        #expect(pas_jit_heap_protection_mode(heap) == CProtectionMode.dualMapped.rawValue)
        #expect(statistics(heap).reservedBytes == 256 << 20)
        #expect(pas_jit_heap_destroy(heap) == ok)
    }

    @Test func badInputIsRecordedNotFatal() throws {
        let heap = try #require(create(options(regionSize: 2 << 20)))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        func expectError(_ code: PasErrorCode, _ errnoValue: Int32, _ comment: Comment) {
            #expect(pas_last_error() == code.rawValue, comment)
            #expect(pas_last_error_errno() == errnoValue, comment)
            #expect(errno == errnoValue, comment)
            pas_clear_last_error()
            errno = 0
        }
        pas_clear_last_error()
        #expect(pas_jit_heap_allocate(heap, 0, 0) == nil); expectError(.invalidSize, EINVAL, "zero size")
        #expect(pas_jit_heap_allocate(heap, .max, 0) == nil); expectError(.invalidSize, EINVAL, "SIZE_MAX")
        #expect(pas_jit_heap_allocate(heap, 1 << 36, 0) == nil); expectError(.outOfMemory, ENOMEM, "64 GiB")
        #expect(pas_jit_heap_allocate(heap, 16, 48) == nil); expectError(.invalidAlignment, EINVAL, "alignment 48")
        #expect(pas_jit_heap_allocate(heap, 16, .max) == nil); expectError(.invalidAlignment, EINVAL, "alignment SIZE_MAX")
        #expect(pas_jit_heap_allocate(nil, 16, 0) == nil); expectError(.invalidArgument, EINVAL, "NULL heap")
        #expect(pas_jit_heap_deallocate(heap, nil) == PasErrorCode.unknownPointer.rawValue)
        expectError(.unknownPointer, EINVAL, "free NULL")
        var local = 0
        withUnsafeMutablePointer(to: &local) { p in
            #expect(pas_jit_heap_deallocate(heap, p) == PasErrorCode.unknownPointer.rawValue)
            #expect(pas_last_error_address() == UInt(bitPattern: p))
            expectError(.unknownPointer, EINVAL, "free foreign")
            #expect(pas_jit_heap_get_size(heap, p) == 0)
            expectError(.unknownPointer, EINVAL, "size of foreign")
        }
        let block = try #require(pas_jit_heap_allocate(heap, 64, 0))
        #expect(pas_jit_heap_deallocate(heap, block + 16) == PasErrorCode.unknownPointer.rawValue)
        expectError(.unknownPointer, EINVAL, "free interior")
        #expect(
            write(heap, block, [1, 2, 3], at: UInt(pas_jit_heap_get_size(heap, block)) - 2)
                == PasErrorCode.outOfBounds.rawValue)
        expectError(.outOfBounds, EINVAL, "write past end")
        #expect(pas_jit_heap_write(heap, block, 0, nil, 1) == PasErrorCode.invalidArgument.rawValue)
        expectError(.invalidArgument, EINVAL, "write from NULL")
        #expect(pas_jit_heap_write(heap, block, 0, nil, 0) == ok)
        #expect(pas_jit_heap_shrink(heap, block, 1000) == PasErrorCode.invalidSize.rawValue)
        expectError(.invalidSize, EINVAL, "grow by shrink")
        #expect(pas_jit_heap_deallocate(heap, block) == ok)
        #expect(pas_jit_heap_deallocate(heap, block) == PasErrorCode.doubleFree.rawValue)
        expectError(.doubleFree, EINVAL, "double free")
        #expect(pas_jit_heap_destroy(nil) == PasErrorCode.invalidArgument.rawValue)
        expectError(.invalidArgument, EINVAL, "destroy NULL")
        #expect(pas_jit_heap_destroy(pas_jit_heap_process_heap()) == PasErrorCode.invalidArgument.rawValue)
        expectError(.invalidArgument, EINVAL, "destroy the process heap")
        #expect(!pas_jit_heap_contains(nil, block))
        #expect(pas_jit_heap_protection_mode(nil) == 0)
        expectError(.invalidArgument, EINVAL, "mode of NULL")
        #expect(pas_jit_heap_verify(heap) == ok)
    }

    @Test func concurrentAllocateWriteFree() throws {
        let heap = try #require(create(options(regionSize: 16 << 20)))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        let seed = UInt64.random(in: 0 ... UInt64.max)
        let handle = UInt(bitPattern: heap)
        let failures = Atomic<Int>(0)
        onThreads(4) { thread in
            let heap = UnsafeMutableRawPointer(bitPattern: handle)
            var rng = SplitMix64(seed: seed &+ UInt64(thread))
            var live: [(UnsafeMutableRawPointer, UInt16)] = []
            for step in 0 ..< 400 {
                if live.isEmpty || rng.next() % 3 != 0 {
                    let size = UInt(8 + rng.next() % 3000)
                    guard let block = pas_jit_heap_allocate(heap, size, 0) else { failures.add(1, ordering: .relaxed); continue }
                    let value = UInt16(truncatingIfNeeded: step &* 7 &+ thread)
                    if write(heap, block, returnConstant(Int32(value))) != 0 { failures.add(1, ordering: .relaxed) }
                    live.append((block, value))
                } else {
                    let i = Int(rng.next() % UInt64(live.count))
                    live.swapAt(i, live.count - 1)
                    let (block, value) = live.removeLast()
                    if callCode(block) != Int32(value) { failures.add(1, ordering: .relaxed) }
                    if pas_jit_heap_deallocate(heap, block) != 0 { failures.add(1, ordering: .relaxed) }
                }
            }
            for (block, value) in live {
                if callCode(block) != Int32(value) || pas_jit_heap_deallocate(heap, block) != 0 {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0, "seed \(seed)")
        #expect(pas_jit_heap_verify(heap) == ok, "seed \(seed)")
        #expect(statistics(heap).blockCount == 0, "seed \(seed)")
    }
}
