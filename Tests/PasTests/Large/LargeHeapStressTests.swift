import Testing
import Pas
import PasSystem
import PasTestSupport
import Synchronization

/// Several threads allocating, shrinking and freeing large objects at once, with a
/// scavenging thread decommitting free pages under them.
@Suite struct LargeHeapStressTests {
    final class Failures: @unchecked Sendable {
        let list = Mutex<[String]>([])
        func add(_ s: String) { list.withLock { $0.append(s) } }
    }

    @Test(arguments: [0x5EED as UInt64, 0xD1CE])
    func threadsShareTheHeap(seed: UInt64) throws {
        let chunks = ReservationChunkSource(source: SystemPageSource(), reservationSize: 256 << 20)
        let heap = LargeHeap(chunks: chunks)
        let failures = Failures()
        let workers = 4
        onThreads(workers) { worker in
            var random = SplitMix64(seed: seed &+ UInt64(worker) &* 0x9E37_79B9)
            var live: [(UnsafeMutableRawPointer, Int, UInt64)] = []
            func check(_ o: (UnsafeMutableRawPointer, Int, UInt64)) {
                let head = o.0.load(as: UInt64.self)
                let tail = o.0.load(fromByteOffset: o.1 - 8, as: UInt64.self)
                if head != o.2 || tail != o.2 {
                    failures.add("seed \(seed) worker \(worker): object \(o.0) corrupted (\(head), \(tail), want \(o.2))")
                }
            }
            do {
                for step in 0 ..< 3000 {
                    if live.count < 6 && random.next(below: 3) != 0 {
                        // 16 KiB .. 8 MiB, roughly log-uniform.
                        let base = (16 << 10) << random.next(below: 10)
                        let size = min(8 << 20, base + random.next(below: base))
                        let alignment = random.next(below: 4) == 0 ? 4096 << random.next(below: 6) : 16
                        let type = LargeHeapType(rawValue: UInt32(random.next(below: 3)))
                        let p = try heap.allocate(size: size, alignment: alignment, type: type)
                        let n = try heap.size(of: p)
                        let tag = UInt64(worker) << 32 | UInt64(step)
                        p.storeBytes(of: tag, as: UInt64.self)
                        p.storeBytes(of: tag, toByteOffset: n - 8, as: UInt64.self)
                        live.append((p, n, tag))
                    } else if !live.isEmpty {
                        let i = random.next(below: live.count)
                        check(live[i])
                        if random.next(below: 4) == 0 {
                            let newSize = max(16, live[i].1 / 2)
                            try heap.shrink(live[i].0, to: newSize)
                            let n = try heap.size(of: live[i].0)
                            live[i].0.storeBytes(of: live[i].2, toByteOffset: n - 8, as: UInt64.self)
                            live[i].1 = n
                        } else {
                            try heap.deallocate(live[i].0)
                            live.remove(at: i)
                        }
                    }
                    if worker == 0 && step % 100 == 0 {
                        _ = try heap.decommitEmptyPages()
                        try heap.verify()
                    }
                }
                for o in live {
                    check(o)
                    try heap.deallocate(o.0)
                }
            } catch {
                failures.add("seed \(seed) worker \(worker): \(error)")
            }
        }
        let messages = failures.list.withLock { $0 }
        #expect(messages.isEmpty, "\(messages.prefix(5))")
        try heap.verify()
        let s = heap.statistics
        #expect(s.objectCount == 0 && s.liveBytes == 0, "seed \(seed)")
        #expect(s.freeBytes == s.chunkBytes, "seed \(seed)")
        #expect(try heap.decommitEmptyPages() + s.decommittedBytes == s.chunkBytes, "seed \(seed)")
        #expect(heap.statistics.committedBytes == 0, "seed \(seed)")
    }
}
