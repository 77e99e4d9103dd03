import Testing
@testable import PasC
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// The C entry points that take donated memory refuse ranges that cannot hold code.
@Suite struct FreshMemoryCheckCAPITests {
    let page = SystemInfo.pageSize

    @Test func unmappedAndStackRangesAreRefused() throws {
        let heap = try #require(create(options(regionSize: 0, modes: [.rwx])))
        defer { #expect(pas_jit_heap_destroy(heap) == ok) }
        // Below vm.mmap_min_addr: never mapped.
        let never = UnsafeMutableRawPointer(bitPattern: UInt(4 * page))
        #expect(
            pas_jit_heap_add_fresh_memory(heap, never, UInt(4 * page), nil, CProtectionMode.rwx.rawValue)
                == PasErrorCode.invalidArgument.rawValue)
        var local = 0
        let here = withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) } & ~UInt(page - 1)
        #expect(
            pas_jit_heap_add_fresh_memory(
                heap, UnsafeMutableRawPointer(bitPattern: here), UInt(page), nil,
                CProtectionMode.rwx.rawValue) == PasErrorCode.invalidArgument.rawValue)
        #expect(local == 0)
        #expect(statistics(heap).reservedBytes == 0)
        pas_clear_last_error()
        // libpas's name records the error for the thread.
        jit_heap_add_fresh_memory(UInt(4 * page), UInt(8 * page))
        #expect(pas_last_error() == PasErrorCode.invalidArgument.rawValue)
        pas_clear_last_error()
    }
}
