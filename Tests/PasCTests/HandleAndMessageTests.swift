import Testing
@testable import PasC
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// `PAS_ERROR_INVALID_HANDLE` (pas_error.h); spelled as its value so that these tests state
/// the C contract, not the Swift enum.
let invalidHandleCode: Int32 = 14

/// Handles that outlive their heap, and error texts that name what the C caller passed.
@Suite struct HandleAndMessageTests {
    /// A destroyed pas_heap handle is refused even when a new heap took its place, and a
    /// second destroy is refused instead of crashing.
    @Test func destroyedHeapHandleIsRefused() throws {
        let old = try #require(pas_heap_create(64 << 20))
        #expect(pas_heap_destroy(old) == PasErrorCode.ok.rawValue)
        let new = try #require(pas_heap_create(64 << 20))
        defer { #expect(pas_heap_destroy(new) == PasErrorCode.ok.rawValue) }
        pas_clear_last_error()
        #expect(pas_heap_allocate(old, 64, 0) == nil)
        #expect(pas_last_error() == invalidHandleCode)
        #expect(String(cString: pas_last_error_message()).contains("destroyed"))
        #expect(pas_heap_destroy(old) == invalidHandleCode)
        #expect(pas_heap_get_size(old, nil) == 0 && pas_last_error() == invalidHandleCode)
        let block = try #require(pas_heap_allocate(new, 64, 0))
        #expect(pas_heap_deallocate(new, block) == PasErrorCode.ok.rawValue)
        pas_clear_last_error()
    }

    @Test func destroyedTypedAndJITHandlesAreRefused() throws {
        let typed = try #require(pas_typed_heap_create(48, 0, "stale"))
        #expect(pas_typed_heap_destroy(typed) == PasErrorCode.ok.rawValue)
        #expect(pas_typed_heap_allocate(typed) == nil && pas_last_error() == invalidHandleCode)
        #expect(pas_typed_heap_destroy(typed) == invalidHandleCode)
        let jit = try #require(create(options(regionSize: 4 << 20, modes: [.rwx])))
        #expect(pas_jit_heap_destroy(jit) == PasErrorCode.ok.rawValue)
        #expect(pas_jit_heap_allocate(jit, 64, 0) == nil && pas_last_error() == invalidHandleCode)
        #expect(pas_jit_heap_destroy(jit) == invalidHandleCode)
        // A handle of one kind is not a handle of another.
        let heap = try #require(pas_heap_create(64 << 20))
        defer { _ = pas_heap_destroy(heap) }
        #expect(pas_jit_heap_allocate(heap, 64, 0) == nil && pas_last_error() == invalidHandleCode)
        pas_clear_last_error()
    }

    /// Sizes the C caller passed as size_t are printed unsigned, never as -1.
    @Test func hugeSizesArePrintedUnsigned() throws {
        let heap = try #require(pas_heap_create(64 << 20))
        defer { _ = pas_heap_destroy(heap) }
        #expect(pas_heap_allocate(heap, UInt(1) << 63, 0) == nil)
        let message = String(cString: pas_last_error_message())
        #expect(message.contains("9223372036854775808") && !message.contains("-1"), "\(message)")
        #expect(pas_heap_allocate(heap, 64, UInt.max) == nil)
        let alignment = String(cString: pas_last_error_message())
        #expect(alignment.contains("18446744073709551615") && !alignment.contains("-1"), "\(alignment)")
        pas_clear_last_error()
    }

    /// A JIT region size that is not a positive multiple of the page size is refused.
    @Test func regionSizeMustBeAMultipleOfThePageSize() {
        for size: UInt64 in [1, 4095, 4097, (4 << 20) + 100] {
            pas_clear_last_error()
            let heap = create(options(regionSize: size, modes: [.rwx]))
            #expect(heap == nil, "region size \(size)")
            if let heap { _ = pas_jit_heap_destroy(heap) }
            #expect(pas_last_error() == PasErrorCode.invalidArgument.rawValue, "region size \(size)")
        }
        pas_clear_last_error()
    }

    /// Fresh memory overlapping a region the heap has is named as such.
    @Test func overlappingFreshMemoryIsNamedAsSuch() throws {
        let heap = try #require(create(options(regionSize: 0, modes: [.rwx])))
        defer { _ = pas_jit_heap_destroy(heap) }
        let size = 2 << 20
        let memory = try #require(mapAnonymous(size, PROT_READ | PROT_WRITE | PROT_EXEC))
        #expect(pas_jit_heap_add_fresh_memory(heap, memory, UInt(size), nil, 0) == PasErrorCode.ok.rawValue)
        #expect(pas_jit_heap_add_fresh_memory(heap, memory + 4096, 8192, nil, 0) == PasErrorCode.outsideReservation.rawValue)
        let message = String(cString: pas_last_error_message())
        #expect(message.contains("overlaps") && !message.contains("outside any reservation"), "\(message)")
        pas_clear_last_error()
    }
}
