import Testing
@testable import PasC
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

func typedStatistics(_ heap: UnsafeMutableRawPointer?) -> CTypedHeapStatistics {
    var s = CTypedHeapStatistics()
    let status = withUnsafeMutableBytes(of: &s) { pas_typed_heap_get_statistics(heap, $0.baseAddress) }
    precondition(status == 0)
    return s
}

@Suite struct TypedHeapCAPITests {
    @Test(arguments: [
        (UInt(24), UInt(0), UInt64(32), UInt64(16)), (100, 64, 128, 64), (2048, 0, 2048, 16),
        (3000, 0, 3008, 16), (16384, 4096, 16384, 4096),
    ])
    func objectsHaveTheRoundedSizeAndAlignment(size: UInt, alignment: UInt, objectSize: UInt64, objectAlignment: UInt64) throws {
        let heap = try #require(pas_typed_heap_create(size, alignment, "Sized"))
        defer { #expect(pas_typed_heap_destroy(heap) == ok) }
        let s = typedStatistics(heap)
        #expect(s.objectSize == objectSize)
        #expect(s.alignment == objectAlignment)
        #expect(s.pages.pageSize == (objectSize <= 2048 ? 16 << 10 : 128 << 10))
        var objects: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 50 {
            let p = try #require(pas_typed_heap_allocate(heap))
            #expect(UInt(bitPattern: p) % UInt(objectAlignment) == 0)
            memset(p, 0x33, Int(size))
            objects.append(p)
        }
        #expect(Set(objects).count == 50)
        #expect(typedStatistics(heap).pages.objectsInUse == 50)
        #expect(pas_typed_heap_verify(heap) == ok)
        for p in objects { #expect(pas_typed_heap_deallocate(heap, p) == ok) }
        #expect(typedStatistics(heap).pages.objectsInUse == 0)
        #expect(pas_typed_heap_verify(heap) == ok)
    }

    @Test func createRefusesBadShapes() {
        pas_clear_last_error()
        #expect(pas_typed_heap_create(0, 0, "Empty") == nil)
        #expect(String(cString: pas_last_error_message()).contains("\"Empty\""))
        expectLastError(.invalidSize, EINVAL, "size 0")
        #expect(pas_typed_heap_create(16385, 0, nil) == nil); expectLastError(.invalidSize, EINVAL, "16385")
        #expect(pas_typed_heap_create(.max, 0, nil) == nil); expectLastError(.invalidSize, EINVAL, "SIZE_MAX")
        #expect(pas_typed_heap_create(16, 24, nil) == nil); expectLastError(.invalidAlignment, EINVAL, "alignment 24")
        #expect(pas_typed_heap_create(16, 1 << 20, nil) == nil); expectLastError(.invalidAlignment, EINVAL, "alignment 1 MiB")
        #expect(pas_typed_heap_create(16, 32768, nil) == nil); expectLastError(.invalidSize, EINVAL, "rounds to 32 KiB")
        #expect(pas_typed_heap_destroy(nil) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "destroy NULL")
    }

    /// Memory freed by one typed heap is never handed out by another while both live, even
    /// after its pages were emptied and decommitted.
    @Test func twoTypedHeapsNeverShareAddresses() throws {
        let a = try #require(pas_typed_heap_create(48, 0, "A"))
        let b = try #require(pas_typed_heap_create(48, 0, "B"))
        defer {
            #expect(pas_typed_heap_destroy(a) == ok)
            #expect(pas_typed_heap_destroy(b) == ok)
        }
        var seenByA = Set<UInt>()
        var seenByB = Set<UInt>()
        for round in 0 ..< 3 {
            var fromA: [UnsafeMutableRawPointer] = []
            var fromB: [UnsafeMutableRawPointer] = []
            for _ in 0 ..< 1500 {
                fromA.append(try #require(pas_typed_heap_allocate(a)))
                fromB.append(try #require(pas_typed_heap_allocate(b)))
            }
            for p in fromA { seenByA.insert(UInt(bitPattern: p)) }
            for p in fromB { seenByB.insert(UInt(bitPattern: p)) }
            #expect(seenByA.isDisjoint(with: seenByB), "round \(round)")
            for p in fromA { #expect(pas_typed_heap_deallocate(a, p) == ok) }
            if round == 1 {
                var bytes: UInt = 0
                #expect(pas_typed_heap_scavenge(a, &bytes) == ok)
                #expect(bytes > 0 || typedStatistics(a).pages.decommittedPages > 0, "A's empty pages were decommitted")
            }
            for p in fromB { #expect(pas_typed_heap_deallocate(b, p) == ok) }
        }
        // A's objects freed through B are refused and A keeps them.
        let p = try #require(pas_typed_heap_allocate(a))
        pas_clear_last_error()
        #expect(pas_typed_heap_deallocate(b, p) == PasErrorCode.unknownPointer.rawValue)
        #expect(String(cString: pas_last_error_message()).hasPrefix("typed heap \"B\": "))
        expectLastError(.unknownPointer, EINVAL, "A's object freed in B")
        #expect(pas_typed_heap_deallocate(a, p) == ok)
        #expect(pas_typed_heap_verify(a) == ok)
        #expect(pas_typed_heap_verify(b) == ok)
    }

    @Test func badFreesAreRecordedNotFatal() throws {
        let heap = try #require(pas_typed_heap_create(64, 0, "Node"))
        defer { #expect(pas_typed_heap_destroy(heap) == ok) }
        pas_clear_last_error()
        #expect(pas_typed_heap_deallocate(heap, nil) == PasErrorCode.unknownPointer.rawValue)
        expectLastError(.unknownPointer, EINVAL, "free NULL")
        var local = 0
        #expect(pas_typed_heap_deallocate(heap, &local) == PasErrorCode.unknownPointer.rawValue)
        expectLastError(.unknownPointer, EINVAL, "free foreign")
        let p = try #require(pas_typed_heap_allocate(heap))
        #expect(pas_typed_heap_deallocate(heap, p + 16) == PasErrorCode.unknownPointer.rawValue)
        expectLastError(.unknownPointer, EINVAL, "interior")
        #expect(pas_typed_heap_deallocate(heap, p) == ok)
        #expect(pas_typed_heap_deallocate(heap, p) == PasErrorCode.doubleFree.rawValue)
        #expect(pas_last_error_address() == UInt(bitPattern: p))
        #expect(String(cString: pas_last_error_message()).hasPrefix("typed heap \"Node\": "))
        expectLastError(.doubleFree, EINVAL, "double free")
        #expect(pas_typed_heap_allocate(nil) == nil); expectLastError(.invalidArgument, EINVAL, "NULL heap")
        #expect(pas_typed_heap_get_statistics(heap, nil) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "NULL statistics")
        #expect(pas_typed_heap_scavenge(nil, nil) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "scavenge NULL heap")
        #expect(pas_typed_heap_verify(heap) == ok)
    }
}
