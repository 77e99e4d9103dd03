import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Fork in a multithreaded process: the child never inherits a Pas lock held by a thread it
/// does not have, gets a scavenger state that names no thread, and can use every heap.
@Suite(.serialized) struct ForkTests {
    typealias Chunks = ReservationChunkSource<SystemPageSource>

    /// Child exit codes.
    enum ChildCode {
        static let ok: Int32 = 0
        static let allocationFailed: Int32 = 3
        static let scavengerStateInherited: Int32 = 4
        static let scavengerDidNotRun: Int32 = 5
        static let verifyFailed: Int32 = 6
    }

    @Test func childrenOfABusyProcessUseEveryHeap() throws {
        let pool = PageSharingPool(delay: .milliseconds(1), period: .milliseconds(1))
        let facade = try PasHeap(cageBytes: 1 << 32, pageSharing: pool)
        let segregated = try SegregatedHeap<SmallPagesConfig, Chunks>(pageSharing: pool)
        let iso = try IsoHeap<(Int, Int, Int), Chunks>(chunks: Chunks(source: SystemPageSource.shared), pageSharing: pool)
        let large = LargeHeap(chunks: Chunks(source: SystemPageSource.shared), pageSharing: pool)
        let stop = Atomic<Bool>(false)
        var threads: [JoinableThread] = []
        for t in 0 ..< 2 {
            threads.append(
                JoinableThread {
                    var seed = SplitMix64(seed: UInt64(t + 1))
                    var live: [UnsafeMutableRawPointer] = []
                    var n = 0
                    while !stop.load(ordering: .relaxed) {
                        let size = Int(seed.next() % 8 == 0 ? 20_000 + seed.next() % 700_000 : 1 + seed.next() % 3000)
                        if let p = facade.allocateUnchecked(size: size) { live.append(p) }
                        if let p = segregated.allocateUnchecked(size: Int(1 + seed.next() % 1000)) {
                            segregated.deallocateUnchecked(p)
                        }
                        if let p = iso.allocateUnchecked() { iso.deallocateUnchecked(p) }
                        if n % 64 == 0, let p = try? large.allocate(size: 100_000) { try? large.deallocate(p) }
                        if live.count > 64 {
                            for p in live { _ = facade.deallocateUnchecked(p) }
                            live.removeAll(keepingCapacity: true)
                        }
                        if n % 256 == 0 {
                            _ = facade.decommitEmptyPages()
                            pool.scavenge()
                        }
                        n += 1
                    }
                    for p in live { _ = facade.deallocateUnchecked(p) }
                })
        }
        defer {
            stop.store(true, ordering: .relaxed)
            for t in threads { t.join() }
            // No scavenger pass may outlive the facade: its segregated heaps' pages live in the
            // cage, which the facade unmaps first when it dies.
            pool.isBackgroundScavengingEnabled = false
        }
        usleep(20_000)
        for round in 0 ..< 20 {
            let outcome = ForkedChild.run(timeoutSeconds: 10) {
                var blocks: [UnsafeMutableRawPointer] = []
                for size in [16, 3000, 40_000, 1 << 20] {
                    guard let p = facade.allocateUnchecked(size: size) else { return ChildCode.allocationFailed }
                    p.storeBytes(of: 7, as: UInt8.self)
                    blocks.append(p)
                }
                guard let s = segregated.allocateUnchecked(size: 100), let i = iso.allocateUnchecked(),
                    let l = try? large.allocate(size: 1 << 20)
                else { return ChildCode.allocationFailed }
                segregated.deallocateUnchecked(s)
                iso.deallocateUnchecked(i)
                try? large.deallocate(l)
                for p in blocks { _ = facade.deallocateUnchecked(p) }
                _ = facade.decommitEmptyPages()
                pool.scavenge()
                do { try facade.verify() } catch { return ChildCode.verifyFailed }
                return ChildCode.ok
            }
            #expect(outcome == .exited(ChildCode.ok), "fork \(round)")
            if outcome != .exited(ChildCode.ok) { break }
        }
    }

    @Test func heapsRegisterWhileAliveAndLeaveNoEntryBehind() throws {
        let pool = PageSharingPool(usesBackgroundThread: false)
        weak var weakHeap: PasHeap? = nil
        weak var weakBitfit: BitfitHeap<MargeBitfitConfig, Chunks>? = nil
        do {
            let heap = try PasHeap(cageBytes: 1 << 30, pageSharing: pool)
            let bitfit = BitfitHeap<MargeBitfitConfig, Chunks>(chunks: Chunks(source: SystemPageSource.shared), pageSharing: pool)
            #expect(ForkRegistry.isRegistered(heap, stage: .facade))
            #expect(ForkRegistry.isRegistered(bitfit, stage: .heap))
            #expect(ForkRegistry.isRegistered(bitfit.chunks, stage: .leaf))
            #expect(ForkRegistry.isRegistered(pool, stage: .scavengerPass) && ForkRegistry.isRegistered(pool, stage: .poolState))
            #expect(ForkRegistry.isRegistered(SystemPageSource.shared, stage: .pageSource))
            weakHeap = heap
            weakBitfit = bitfit
            try bitfit.deallocate(try bitfit.allocate(size: 100_000))
        }
        // The registry holds nothing strongly: both are gone, and a fork touches no stale entry.
        #expect(weakHeap == nil && weakBitfit == nil)
        #expect(ForkedChild.run(timeoutSeconds: 10) { 0 } == .exited(0))
        #expect(ForkRegistry.installFailure == nil)
    }

    @Test func childStartsAScavengerThreadOfItsOwn() throws {
        let pool = PageSharingPool(delay: .milliseconds(5), period: .milliseconds(5), idlePeriodsBeforeExit: 1_000_000)
        let heap = BitfitHeap<MargeBitfitConfig, Chunks>(chunks: Chunks(source: SystemPageSource.shared), pageSharing: pool)
        // An empty page starts the parent's scavenger thread, which then stays (no idle exit).
        try heap.deallocate(try heap.allocate(size: 64 << 10))
        #expect(pool.isScavengerRunning)
        let outcome = ForkedChild.run(timeoutSeconds: 10) {
            // The parent's thread does not exist here.
            if pool.isScavengerRunning { return ChildCode.scavengerStateInherited }
            guard let p = try? heap.allocate(size: 64 << 10) else { return ChildCode.allocationFailed }
            try? heap.deallocate(p)
            // The first empty page starts a new thread, which decommits the page after the delay.
            for _ in 0 ..< 400 {
                if heap.statistics.decommittedBytes >= MargeBitfitConfig.pageSize { return ChildCode.ok }
                usleep(5000)
            }
            return ChildCode.scavengerDidNotRun
        }
        #expect(outcome == .exited(ChildCode.ok))
        pool.stopScavengerThread()
    }
}
