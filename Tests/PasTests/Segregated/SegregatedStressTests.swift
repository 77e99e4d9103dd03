import Testing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Pas
import PasSystem
import PasTestSupport

/// A queue of object addresses between threads (test scaffolding, not allocator code). Its lock
/// is a `HandoffLock`, so ThreadSanitizer sees each hand-off order the sender's writes before
/// the receiver's reads.
final class AddressQueue: Sendable {
    let items = HandoffLock<[UInt]>([])
    let closed = Atomic<Bool>(false)
    func push(_ batch: [UInt]) { items.withLock { $0.append(contentsOf: batch) } }
    func popAll() -> [UInt] {
        items.withLock { q in
            defer { q.removeAll(keepingCapacity: true) }; return q
        }
    }
}

@Suite struct SegregatedStressTests {
    /// Writes `tag` into the first and last word of an object of `size` bytes (size >= 16).
    static func stamp(_ p: UnsafeMutableRawPointer, size: Int, tag: UInt64) {
        p.storeBytes(of: tag, as: UInt64.self)
        p.storeBytes(of: ~tag, toByteOffset: size - 8, as: UInt64.self)
    }

    @Test func producerAllocatesConsumerFrees() throws {
        let heap = try SmallHeap()
        let queue = AddressQueue()
        let seed: UInt64 = 0xC0FF_EE00 ^ UInt64(UInt(bitPattern: ObjectIdentifier(heap).hashValue) & 0xFFFF)
        let objects = 60_000
        let corrupt = Atomic<Int>(0)
        let consumer = JoinableThread {
            var consumed = 0
            while true {
                let batch = queue.popAll()
                for a in batch {
                    let p = UnsafeMutableRawPointer(bitPattern: a)!
                    let tag = p.load(as: UInt64.self)
                    let size = Int(tag & 0xFFFF)
                    if p.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self) != ~tag { corrupt.add(1, ordering: .relaxed) }
                    heap.deallocateUnchecked(p)
                }
                consumed += batch.count
                if batch.isEmpty {
                    if queue.closed.load(ordering: .acquiring) && queue.items.withLock({ $0.isEmpty }) { break }
                    sched_yield()
                }
            }
            if consumed != objects { corrupt.add(1000_000, ordering: .relaxed) }
        }
        let producer = JoinableThread {
            var random = SplitMix64(seed: seed)
            var batch: [UInt] = []
            for i in 0 ..< objects {
                let size = 16 + random.next(below: 497)
                let p = heap.allocateUnchecked(size: size)!
                let tag = UInt64(i) << 16 | UInt64(size)
                Self.stamp(p, size: size, tag: tag)
                batch.append(UInt(bitPattern: p))
                if batch.count == 64 { queue.push(batch); batch.removeAll(keepingCapacity: true) }
            }
            queue.push(batch)
            queue.closed.store(true, ordering: .releasing)
        }
        producer.join()
        consumer.join()
        #expect(corrupt.load(ordering: .relaxed) == 0, "seed \(seed)")
        try heap.verify()
        let s = heap.statistics
        #expect(s.objectsInUse == 0, "seed \(seed)")
        #expect(s.ownedPages == 0 && s.lateDoubleFrees == 0, "seed \(seed)")
        #expect(s.remoteFrees == objects, "seed \(seed)")
    }

    @Test func twoThreadsExchangeAndChurn() throws {
        let heap = try MediumHeap()
        let queues = [AddressQueue(), AddressQueue()]
        let corrupt = Atomic<Int>(0)
        let baseSeed: UInt64 = 0x1234_5678_9ABC
        let rounds = 20_000
        var threads: [JoinableThread] = []
        for me in 0 ..< 2 {
            threads.append(
                JoinableThread {
                    var random = SplitMix64(seed: baseSeed &+ UInt64(me))
                    var slots = [UInt](repeating: 0, count: 500)
                    var outgoing: [UInt] = []
                    func release(_ a: UInt) {
                        let p = UnsafeMutableRawPointer(bitPattern: a)!
                        let tag = p.load(as: UInt64.self)
                        let size = Int(tag & 0xFFFF)
                        if p.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self) != ~tag {
                            corrupt.add(1, ordering: .relaxed)
                        }
                        heap.deallocateUnchecked(p)
                    }
                    for i in 0 ..< rounds {
                        let k = random.next(below: slots.count)
                        if slots[k] != 0 {
                            // Half of the victims go to the other thread to be freed there.
                            if random.next(below: 2) == 0 { outgoing.append(slots[k]) } else { release(slots[k]) }
                        }
                        let size = 16 + random.next(below: random.next(below: 8) == 0 ? 16369 : 1009)
                        let p = heap.allocateUnchecked(size: size)!
                        Self.stamp(p, size: size, tag: UInt64(i) << 16 | UInt64(size))
                        slots[k] = UInt(bitPattern: p)
                        if outgoing.count == 32 { queues[1 - me].push(outgoing); outgoing.removeAll() }
                        if i % 64 == 0 { for a in queues[me].popAll() { release(a) } }
                    }
                    queues[1 - me].push(outgoing)
                    for a in slots where a != 0 { release(a) }
                })
        }
        for t in threads { t.join() }
        // Leftovers that arrived after each thread's last drain.
        for q in queues {
            for a in q.popAll() { try heap.deallocate(UnsafeMutableRawPointer(bitPattern: a)!) }
        }
        #expect(corrupt.load(ordering: .relaxed) == 0, "seed \(baseSeed)")
        try heap.verify()
        let s = heap.statistics
        #expect(s.objectsInUse == 0 && s.ownedPages == 0 && s.lateDoubleFrees == 0, "seed \(baseSeed)")
        #expect(s.emptyPages > 0)
    }
}
