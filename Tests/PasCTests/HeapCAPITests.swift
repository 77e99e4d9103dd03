import Testing
@testable import PasC
import Pas
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// A 1 GiB cage: plenty for the tests, little address space.
let testCageBytes: UInt = 1 << 30

func heapStatistics(_ heap: UnsafeMutableRawPointer?) -> CHeapStatistics {
    var s = CHeapStatistics()
    let status = withUnsafeMutableBytes(of: &s) { pas_heap_get_statistics(heap, $0.baseAddress) }
    precondition(status == 0)
    return s
}

/// Expects the calling thread's last error to be `code` with `errnoValue`, then clears both.
func expectLastError(
    _ code: PasErrorCode, _ errnoValue: Int32, _ comment: Comment,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(pas_last_error() == code.rawValue, comment, sourceLocation: sourceLocation)
    #expect(pas_last_error_errno() == errnoValue, comment, sourceLocation: sourceLocation)
    #expect(errno == errnoValue, comment, sourceLocation: sourceLocation)
    #expect(!String(cString: pas_last_error_message()).isEmpty, comment, sourceLocation: sourceLocation)
    pas_clear_last_error()
    errno = 0
}

@Suite struct HeapCAPITests {
    @Test func structLayoutsMatchTheHeader() {
        #expect(MemoryLayout<CSegregatedHeapStatistics>.size == 112)
        #expect(MemoryLayout<CSegregatedHeapStatistics>.offset(of: \.objectsInUse) == 72)
        #expect(MemoryLayout<CSegregatedHeapStatistics>.offset(of: \.committedPageBytes) == 104)
        #expect(MemoryLayout<CBitfitHeapStatistics>.size == 88)
        #expect(MemoryLayout<CBitfitHeapStatistics>.offset(of: \.failedPageSearches) == 80)
        #expect(MemoryLayout<CLargeHeapStatistics>.size == 64)
        #expect(MemoryLayout<CLargeHeapStatistics>.offset(of: \.metadataBytes) == 56)
        #expect(MemoryLayout<CHeapStatistics>.offset(of: \.small) == 16)
        #expect(MemoryLayout<CHeapStatistics>.offset(of: \.medium) == 128)
        #expect(MemoryLayout<CHeapStatistics>.offset(of: \.marge) == 240)
        #expect(MemoryLayout<CHeapStatistics>.offset(of: \.large) == 328)
        #expect(MemoryLayout<CHeapStatistics>.size == 392)
        #expect(MemoryLayout<CTypedHeapStatistics>.offset(of: \.pages) == 16)
        #expect(MemoryLayout<CTypedHeapStatistics>.size == 128)
    }

    @Test func createRefusesBadCageSizes() {
        pas_clear_last_error()
        #expect(pas_heap_create(3 << 20) == nil); expectLastError(.invalidSize, EINVAL, "not a power of two")
        #expect(pas_heap_create(1 << 20) == nil); expectLastError(.invalidSize, EINVAL, "below 64 MiB")
        #expect(pas_heap_create(.max) == nil); expectLastError(.invalidSize, EINVAL, "SIZE_MAX")
        #expect(pas_heap_destroy(nil) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "destroy NULL")
    }

    /// Sizes in each region come back usable, aligned, in the right region, and survive a verify.
    @Test(arguments: [
        (UInt(1), CHeapRegion.small), (24, .small), (2048, .small), (2049, .medium), (16384, .medium),
        (16385, .marge), (655_360, .marge), (655_361, .large), (3 << 20, .large),
    ])
    func allocateAcrossSizeClasses(size: UInt, region: CHeapRegion) throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        let p = try #require(pas_heap_allocate(heap, size, 0))
        #expect(UInt(bitPattern: p) % 16 == 0)
        #expect(pas_heap_region_of(heap, p) == region.rawValue)
        #expect(pas_heap_get_size(heap, p) >= size)
        memset(p, 0x5A, Int(size))
        #expect(pas_heap_contains(heap, p))
        #expect(pas_heap_clamp(heap, p) == p)
        #expect(heapStatistics(heap).liveBytes >= UInt64(size))
        #expect(pas_heap_verify(heap) == ok)
        #expect(pas_heap_deallocate(heap, p) == ok)
        #expect(pas_heap_verify(heap) == ok)
    }

    @Test(arguments: [UInt(32), 256, 4096, 65536, 1 << 21])
    func largerAlignmentsAreHonoured(alignment: UInt) throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        for size: UInt in [8, 3000, 40000] {
            let p = try #require(pas_heap_allocate(heap, size, alignment))
            #expect(UInt(bitPattern: p) % alignment == 0, "size \(size)")
            #expect(pas_heap_deallocate(heap, p) == ok)
        }
    }

    @Test func reallocateKeepsContentsAcrossRegions() throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        var p = try #require(pas_heap_allocate(heap, 10, 0))
        for i in 0 ..< 10 { p.storeBytes(of: UInt8(i + 1), toByteOffset: i, as: UInt8.self) }
        var kept = 10
        for size: UInt in [12, 3000, 20000, 1 << 20, 100, 5] {
            p = try #require(pas_heap_reallocate(heap, p, size), "to \(size)")
            for i in 0 ..< min(kept, Int(size)) {
                #expect(
                    p.load(fromByteOffset: i, as: UInt8.self) == UInt8(truncatingIfNeeded: i + 1), "byte \(i) at size \(size)")
            }
            for i in min(kept, Int(size)) ..< Int(size) {
                p.storeBytes(of: UInt8(truncatingIfNeeded: i + 1), toByteOffset: i, as: UInt8.self)
            }
            kept = Int(size)
            #expect(
                pas_heap_region_of(heap, p) == CHeapRegion(PasHeap.region(forSize: Int(size))).rawValue
                    || Int(size) < 2048, "size \(size)")
        }
        // Failure leaves the block live and unchanged.
        pas_clear_last_error()
        #expect(pas_heap_reallocate(heap, p, 0) == nil); expectLastError(.invalidSize, EINVAL, "new size 0")
        #expect(pas_heap_reallocate(heap, p, .max) == nil); expectLastError(.invalidSize, EINVAL, "new size SIZE_MAX")
        #expect(pas_heap_get_size(heap, p) >= 5)
        #expect(pas_heap_reallocate(heap, nil, 16) == nil); expectLastError(.unknownPointer, EINVAL, "NULL block")
        #expect(pas_heap_deallocate(heap, p) == ok)
        #expect(pas_heap_reallocate(heap, p, 16) == nil)
        #expect(pas_last_error() == PasErrorCode.unknownPointer.rawValue || pas_last_error() == PasErrorCode.doubleFree.rawValue)
        pas_clear_last_error()
    }

    @Test func zeroedAllocationIsZeroAndOverflowIsRefused() throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        // Dirty a block, free it, and allocate zeroed memory of the same class.
        let dirty = try #require(pas_heap_allocate(heap, 64 * 16, 0))
        memset(dirty, 0xFF, 64 * 16)
        #expect(pas_heap_deallocate(heap, dirty) == ok)
        for (count, size): (UInt, UInt) in [(64, 16), (1, 100_000), (3, 1 << 20)] {
            let p = try #require(pas_heap_allocate_zeroed(heap, count, size, 0))
            let bytes = UnsafeRawBufferPointer(start: p, count: Int(count * size))
            #expect(bytes.allSatisfy { $0 == 0 }, "\(count) x \(size)")
            #expect(pas_heap_deallocate(heap, p) == ok)
        }
        pas_clear_last_error()
        #expect(pas_heap_allocate_zeroed(heap, UInt.max / 2, 3, 0) == nil)
        #expect(String(cString: pas_last_error_message()).contains("overflows"))
        expectLastError(.invalidSize, EINVAL, "count * size overflows")
        #expect(pas_heap_allocate_zeroed(heap, 1 << 32, 1 << 32, 0) == nil); expectLastError(.invalidSize, EINVAL, "2^64")
        #expect(pas_heap_allocate_zeroed(heap, 0, 16, 0) == nil); expectLastError(.invalidSize, EINVAL, "count 0")
        #expect(pas_heap_allocate_zeroed(heap, 4, 0, 0) == nil); expectLastError(.invalidSize, EINVAL, "size 0")
        #expect(pas_heap_allocate_zeroed(heap, 4, 4, 24) == nil); expectLastError(.invalidAlignment, EINVAL, "alignment 24")
    }

    @Test func badFreesAreRecordedNotFatal() throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        pas_clear_last_error()
        #expect(pas_heap_deallocate(heap, nil) == PasErrorCode.unknownPointer.rawValue)
        expectLastError(.unknownPointer, EINVAL, "free NULL")
        var local = 0
        withUnsafeMutablePointer(to: &local) { p in
            #expect(pas_heap_deallocate(heap, p) == PasErrorCode.unknownPointer.rawValue)
            #expect(pas_last_error_address() == UInt(bitPattern: p))
            expectLastError(.unknownPointer, EINVAL, "free foreign")
            #expect(pas_heap_get_size(heap, p) == 0); expectLastError(.unknownPointer, EINVAL, "size of foreign")
            #expect(!pas_heap_contains(heap, p))
            #expect(pas_heap_region_of(heap, p) == CHeapRegion.foreign.rawValue)
        }
        for size: UInt in [48, 5000, 30000, 1 << 20] {
            let p = try #require(pas_heap_allocate(heap, size, 0))
            #expect(pas_heap_deallocate(heap, p + 16) == PasErrorCode.unknownPointer.rawValue, "interior, size \(size)")
            expectLastError(.unknownPointer, EINVAL, "interior, size \(size)")
            #expect(pas_heap_deallocate(heap, p) == ok)
            #expect(pas_heap_deallocate(heap, p) == PasErrorCode.doubleFree.rawValue, "size \(size)")
            #expect(pas_last_error_address() == UInt(bitPattern: p))
            expectLastError(.doubleFree, EINVAL, "double free, size \(size)")
            #expect(pas_heap_get_size(heap, p) == 0, "size \(size)")
            #expect(
                pas_last_error() == PasErrorCode.unknownPointer.rawValue || pas_last_error() == PasErrorCode.doubleFree.rawValue)
            pas_clear_last_error()
        }
        #expect(pas_heap_verify(heap) == ok)
        #expect(pas_heap_allocate(heap, 0, 0) == nil); expectLastError(.invalidSize, EINVAL, "size 0")
        #expect(pas_heap_allocate(heap, .max, 0) == nil); expectLastError(.invalidSize, EINVAL, "SIZE_MAX")
        #expect(pas_heap_allocate(heap, 16, 48) == nil); expectLastError(.invalidAlignment, EINVAL, "alignment 48")
        #expect(pas_heap_allocate(heap, 2 << 30, 0) == nil); expectLastError(.outOfMemory, ENOMEM, "larger than the cage")
        #expect(pas_heap_allocate(nil, 16, 0) == nil); expectLastError(.invalidArgument, EINVAL, "NULL heap")
        #expect(pas_heap_deallocate(nil, &local) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "free on NULL heap")
        #expect(pas_heap_get_statistics(heap, nil) == PasErrorCode.invalidArgument.rawValue)
        expectLastError(.invalidArgument, EINVAL, "NULL statistics")
        #expect(!pas_heap_contains(nil, &local))
        #expect(pas_last_error() == ok)
    }

    @Test func clampForcesPointersIntoTheCage() throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        let p = try #require(pas_heap_allocate(heap, 100, 0))
        defer { #expect(pas_heap_deallocate(heap, p) == ok) }
        let cage = try #require(generalHeap(heap, "test")).cage
        for outside: UInt in [0x10, cage.start &- 4096, cage.end, cage.end &+ 12345, UInt.max &- 7] {
            let raw = UnsafeRawPointer(bitPattern: outside)
            #expect(!pas_heap_contains(heap, raw), "\(outside)")
            let clamped = try #require(pas_heap_clamp(heap, raw))
            #expect(pas_heap_contains(heap, clamped), "\(outside)")
            #expect(UInt(bitPattern: clamped) &- cage.start == (outside &- cage.start) & (testCageBytes - 1))
        }
        #expect(pas_heap_contains(heap, pas_heap_clamp(heap, nil)))
        #expect(pas_heap_clamp(heap, p + 50) == p + 50)
        pas_clear_last_error()
        #expect(pas_heap_clamp(nil, p) == nil); expectLastError(.invalidArgument, EINVAL, "NULL heap")
    }

    @Test func statisticsAndScavengeReportFreedMemory() throws {
        let heap = try #require(pas_heap_create(testCageBytes))
        defer { #expect(pas_heap_destroy(heap) == ok) }
        let before = heapStatistics(heap)
        #expect(before.cageBytes == UInt64(testCageBytes))
        #expect(before.small.pageSize == 16 << 10)
        #expect(before.medium.pageSize == 128 << 10)
        var small: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 2000 { small.append(try #require(pas_heap_allocate(heap, 64, 0))) }
        let marge = try #require(pas_heap_allocate(heap, 100_000, 0))
        let large = try #require(pas_heap_allocate(heap, 4 << 20, 0))
        memset(large, 1, 4 << 20)
        let during = heapStatistics(heap)
        #expect(during.small.objectsInUse >= 2000)
        #expect(during.marge.objectCount == 1)
        #expect(during.large.objectCount == 1)
        #expect(during.large.liveBytes == 4 << 20)
        #expect(during.liveBytes >= 2000 * 64 + 100_000 + (4 << 20))
        for p in small { #expect(pas_heap_deallocate(heap, p) == ok) }
        #expect(pas_heap_deallocate(heap, marge) == ok)
        #expect(pas_heap_deallocate(heap, large) == ok)
        var bytes: UInt = 0
        #expect(pas_heap_scavenge(heap, &bytes) == ok)
        let after = heapStatistics(heap)
        #expect(after.small.objectsInUse == 0)
        #expect(after.large.objectCount == 0)
        #expect(after.liveBytes == 0)
        // The page-sharing scavenger may have decommitted some pages first; together they
        // returned at least the large block, and never more than was ever committed.
        let decommitted = after.small.decommittedPages * after.small.pageSize + after.large.decommittedBytes
        #expect(decommitted >= 4 << 20)
        #expect(
            UInt64(bytes) <= during.small.committedPageBytes + during.medium.committedPageBytes
                + during.marge.committedBytes + during.large.committedBytes)
        #expect(pas_heap_scavenge(heap, nil) == ok)
        #expect(pas_heap_verify(heap) == ok)
    }
}
