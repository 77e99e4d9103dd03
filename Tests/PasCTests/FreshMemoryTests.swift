import Testing
@testable import PasC
import PasSystem
import PasTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Maps `byteCount` bytes of anonymous memory with `protection`, or nil.
func mapAnonymous(_ byteCount: Int, _ protection: Int32) -> UnsafeMutableRawPointer? {
    let p = mmap(nil, byteCount, protection, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    return p == MAP_FAILED ? nil : p
}

@Suite struct FreshMemoryTests {
    /// A heap that reserves nothing allocates only from memory it is given, in each mode.
    @Test(arguments: [CProtectionMode.none, .rwx, .toggled, .dualMapped])
    func ownHeapUsesGivenMemory(mode: CProtectionMode) throws {
        let heap = try #require(create(options(regionSize: 0, modes: [.rwx])))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        pas_clear_last_error()
        #expect(pas_jit_heap_allocate(heap, 64, 0) == nil)
        #expect(pas_last_error() == PasErrorCode.outOfMemory.rawValue)
        let size = 2 << 20
        var dual: DualMapping? = nil
        let executable: UnsafeMutableRawPointer
        var writable: UnsafeMutableRawPointer? = nil
        switch mode {
        case .none, .rwx:
            executable = try #require(mapAnonymous(size, PROT_READ | PROT_WRITE | PROT_EXEC))
        case .toggled:
            executable = try #require(mapAnonymous(size, PROT_READ | PROT_EXEC))
        case .dualMapped:
            let mapping = try DualMapping(byteCount: size)
            dual = mapping
            executable = mapping.executable.pointer
            writable = UnsafeMutableRawPointer(bitPattern: mapping.writable.start)
        }
        defer { if dual == nil { munmap(executable, size) } }
        #expect(pas_jit_heap_add_fresh_memory(heap, executable, UInt(size), writable, mode.rawValue) == ok)
        #expect(pas_jit_heap_contains(heap, executable))
        #expect(statistics(heap).reservedBytes == UInt64(size))
        let block = try #require(pas_jit_heap_allocate(heap, 200, 0))
        #expect(UInt(bitPattern: block) >= UInt(bitPattern: executable))
        #expect(UInt(bitPattern: block) < UInt(bitPattern: executable) + UInt(size))
        #expect(write(heap, block, returnConstant(77)) == ok)
        #expect(callCode(block) == 77)
        #expect(pas_jit_heap_deallocate(heap, block) == ok)
        // The same memory cannot be given twice.
        #expect(
            pas_jit_heap_add_fresh_memory(heap, executable, UInt(size), writable, mode.rawValue)
                == PasErrorCode.outsideReservation.rawValue)
        withExtendedLifetime(dual) {}
    }

    @Test func badFreshMemoryIsRefused() throws {
        let heap = try #require(create(options(regionSize: 0, modes: [.rwx])))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        let page = UInt(SystemInfo.pageSize)
        let memory = try #require(mapAnonymous(Int(page) * 4, PROT_READ | PROT_WRITE | PROT_EXEC))
        defer { munmap(memory, Int(page) * 4) }
        #expect(pas_jit_heap_add_fresh_memory(heap, memory + 1, page, nil, 0) == PasErrorCode.misaligned.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, page + 1, nil, 0) == PasErrorCode.invalidSize.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, 0, nil, 0) == PasErrorCode.invalidSize.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, nil, page, nil, 0) == PasErrorCode.misaligned.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, page, memory + 1, 1) == PasErrorCode.misaligned.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, page, nil, 1) == PasErrorCode.invalidArgument.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, page, nil, 9) == PasErrorCode.invalidArgument.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(nil, memory, page, nil, 0) == PasErrorCode.invalidArgument.rawValue)
        pas_clear_last_error()
    }

    /// libpas's names over the process-wide heap. The only Swift test that touches that heap.
    @Test func libpasNamesOverTheProcessWideHeap() throws {
        let process = try #require(pas_jit_heap_process_heap())
        #expect(pas_jit_heap_process_heap() == process)
        #expect(pas_jit_heap_protection_mode(process) == CProtectionMode.rwx.rawValue)
        let before = statistics(process).reservedBytes
        let size = 2 << 20
        let memory = try #require(mapAnonymous(size, PROT_READ | PROT_WRITE | PROT_EXEC))
        // The heap never unmaps given memory, and the process-wide heap lives until exit:
        // the mapping stays for the rest of the test process.
        let begin = UInt(bitPattern: memory)
        pas_clear_last_error()
        jit_heap_add_fresh_memory(begin, begin + UInt(size))
        #expect(pas_last_error() == ok)
        #expect(statistics(process).reservedBytes == before + UInt64(size))
        #expect(pas_jit_heap_contains(process, memory))

        let object = try #require(jit_heap_try_allocate(48))
        #expect(jit_heap_get_size(object) >= 48)
        let code = returnConstant(4242)
        code.withUnsafeBytes { object.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        #expect(callCode(object) == 4242)
        let big = try #require(jit_heap_try_allocate(9000))
        let bigSize = jit_heap_get_size(big)
        jit_heap_shrink(big, 64)
        #expect(pas_last_error() == ok)
        #expect(jit_heap_get_size(big) < bigSize)
        let tiny = try #require(jit_heap_try_allocate(0))
        #expect(jit_heap_get_size(tiny) > 0)

        #expect(jit_heap_try_allocate(.max) == nil)
        #expect(pas_last_error() == PasErrorCode.invalidSize.rawValue)
        jit_heap_deallocate(nil)
        #expect(pas_last_error() == PasErrorCode.unknownPointer.rawValue)
        #expect(jit_heap_get_size(object + 8) == 0)
        jit_heap_shrink(big, 1 << 20)
        #expect(pas_last_error() == PasErrorCode.invalidSize.rawValue)
        jit_heap_add_fresh_memory(begin + UInt(size), begin)
        #expect(pas_last_error() == PasErrorCode.invalidSize.rawValue)
        pas_clear_last_error()

        jit_heap_deallocate(object)
        jit_heap_deallocate(big)
        jit_heap_deallocate(tiny)
        #expect(pas_last_error() == ok)
        // Freed code is not overwritten: the runtime owns donated memory's contents.
        #expect((0 ..< code.count).map { object.load(fromByteOffset: $0, as: UInt8.self) } == code)
        jit_heap_deallocate(object)
        #expect(pas_last_error() == PasErrorCode.doubleFree.rawValue)
        pas_clear_last_error()
        #expect(pas_jit_heap_verify(process) == ok)
    }
}
