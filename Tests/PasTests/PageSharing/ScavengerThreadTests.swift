import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The background scavenger with the real clock: it starts on the first empty page, returns
/// pages after the delay without being asked, exits when idle and starts again on demand.
/// Serialized: the resident-memory tests measure the whole process.
@Suite(.serialized) struct ScavengerThreadTests {
    typealias Marge = MargeBitfitConfig
    typealias RealChunks = ReservationChunkSource<SystemPageSource>

    @Test func threadStartsOnDemandExitsWhenIdleAndRestarts() async throws {
        let pool = PageSharingPool(delay: .milliseconds(20), period: .milliseconds(10), idlePeriodsBeforeExit: 2)
        let heap = BitfitHeap<Marge, RealChunks>(chunks: RealChunks(source: SystemPageSource.shared), pageSharing: pool)
        #expect(!pool.isScavengerRunning)
        let p = try heap.allocate(size: 64 << 10)
        // The fresh chunk's page is in use: nothing to do, no thread.
        #expect(!pool.isScavengerRunning && pool.statistics.scavengerThreadStarts == 0)
        try heap.deallocate(p)
        #expect(pool.isScavengerRunning)
        #expect(pool.statistics.scavengerThreadStarts == 1)
        let returned = await poll { heap.statistics.decommittedBytes == Marge.pageSize }
        #expect(returned, "the scavenger did not decommit the empty page: \(pool.statistics)")
        let exited = await poll { !pool.isScavengerRunning }
        #expect(exited, "the scavenger thread did not exit when idle: \(pool.statistics)")
        // A new empty page starts it again.
        let q = try heap.allocate(size: 64 << 10)
        #expect(q == p)
        #expect(!pool.isScavengerRunning)
        try heap.deallocate(q)
        #expect(pool.isScavengerRunning)
        #expect(pool.statistics.scavengerThreadStarts == 2)
        let again = await poll { heap.statistics.decommittedBytes == Marge.pageSize && !pool.isScavengerRunning }
        #expect(again, "\(pool.statistics)")
        #expect(heap.verify().isEmpty)
    }

    @Test func stoppingAndDisablingTheThread() async throws {
        let pool = PageSharingPool(delay: .seconds(30), period: .milliseconds(10))
        let heap = BitfitHeap<Marge, RealChunks>(chunks: RealChunks(source: SystemPageSource.shared), pageSharing: pool)
        try heap.deallocate(try heap.allocate(size: 4096))
        #expect(pool.isScavengerRunning)
        pool.isBackgroundScavengingEnabled = false
        #expect(!pool.isScavengerRunning)
        let p = try heap.allocate(size: 4096)
        try heap.deallocate(p)
        #expect(!pool.isScavengerRunning)
        pool.isBackgroundScavengingEnabled = true
        #expect(pool.isScavengerRunning)
        pool.stopScavengerThread()
        #expect(!pool.isScavengerRunning)
        // Explicit scavenging works without the thread.
        #expect(pool.scavenge().decommittedBytes == Marge.pageSize)
        #expect(heap.verify().isEmpty)
    }

    /// ~256 MiB of marge objects, the oldest 90 % freed: without any explicit call, the
    /// process's resident memory falls back to less than twice the live bytes.
    @Test func freedMemoryLeavesTheProcessWithoutBeingAsked() async throws {
        let pool = PageSharingPool() // real clock, 300 ms, the default thread
        defer { pool.stopScavengerThread() }
        let heap = BitfitHeap<Marge, RealChunks>(
            chunks: RealChunks(source: SystemPageSource.shared, reservationSize: 512 << 20),
            pageSharing: pool)
        let page = SystemInfo.pageSize
        let objectSize = 256 << 10
        let count = 1024
        let baseline = SystemInfo.residentBytes()
        var objects: [UnsafeMutableRawPointer] = []
        objects.reserveCapacity(count)
        for i in 0 ..< count {
            let p = try heap.allocate(size: objectSize)
            var offset = 0
            while offset < objectSize {
                p.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: offset, as: UInt8.self); offset += page
            }
            objects.append(p)
        }
        // RSS is the whole test process's, and other suites run in parallel: compare the heap's own
        // committed pages with the live bytes, and check that RSS dropped by most of what was freed.
        #expect(SystemInfo.residentBytes() > baseline, "allocating did not raise the resident size")
        let freed = count * 9 / 10
        for p in objects[0 ..< freed] { try heap.deallocate(p) }
        let live = heap.statistics.liveBytes
        #expect(live == (count - freed) * objectSize)
        // The freed objects' pages must really leave (mincore on our own ranges, immune to the other
        // suites' memory use), not just be counted as decommitted.
        let freedPages = freed * (objectSize / page)
        var stillResident = freedPages
        let fell = await poll(everyMilliseconds: 50, upTo: 1500) {
            stillResident = objects[0 ..< freed].reduce(0) {
                $0 + Residency.residentPages(start: UInt(bitPattern: $1), byteCount: objectSize)
            }
            return stillResident <= freedPages / 10
        }
        #expect(fell, "\(stillResident) of \(freedPages) freed pages still resident, \(pool.statistics)")
        #expect(heap.statistics.committedBytes <= live + 2 * Marge.pageSize)
        #expect(heap.statistics.committedBytes < 2 * live)
        // The survivors are intact.
        for (i, p) in objects.enumerated().dropFirst(freed) {
            #expect(p.load(fromByteOffset: objectSize - page, as: UInt8.self) == UInt8(truncatingIfNeeded: i))
        }
        #expect(heap.verify().isEmpty)
        for p in objects[freed...] { try heap.deallocate(p) }
    }

    /// The same through a large heap: 1 MiB objects, the oldest 90 % freed.
    @Test func freedLargeObjectsLeaveTheProcessWithoutBeingAsked() async throws {
        let pool = PageSharingPool()
        defer { pool.stopScavengerThread() }
        let heap = LargeHeap(
            chunks: RealChunks(source: SystemPageSource.shared, reservationSize: 512 << 20),
            chunkSize: 8 << 20, pageSharing: pool)
        let page = SystemInfo.pageSize
        let objectSize = 1 << 20
        let count = 256
        var objects: [UnsafeMutableRawPointer] = []
        for i in 0 ..< count {
            let p = try heap.allocate(size: objectSize)
            var offset = 0
            while offset < objectSize {
                p.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: offset, as: UInt8.self); offset += page
            }
            objects.append(p)
        }
        let freed = count * 9 / 10
        for p in objects[0 ..< freed] { try heap.deallocate(p) }
        // mincore on the freed objects themselves (RSS is shared with the suites running in parallel).
        let freedPages = freed * (objectSize / page)
        var stillResident = freedPages
        let fell = await poll(everyMilliseconds: 50, upTo: 1500) {
            stillResident = objects[0 ..< freed].reduce(0) {
                $0 + Residency.residentPages(start: UInt(bitPattern: $1), byteCount: objectSize)
            }
            return stillResident <= freedPages / 10
        }
        #expect(fell, "\(stillResident) of \(freedPages) freed pages still resident, \(pool.statistics)")
        for (i, p) in objects.enumerated().dropFirst(freed) {
            #expect(p.load(fromByteOffset: objectSize - page, as: UInt8.self) == UInt8(truncatingIfNeeded: i))
        }
        try heap.verify()
        for p in objects[freed...] { try heap.deallocate(p) }
    }
}
