import Testing
import Pas
import PasSystem
import PasTestSupport

/// The whole heap against a reference model: sorted arrays of free ranges and a dictionary of
/// live objects. The model predicts every address first fit must return, and checks the
/// type memory rule over the whole history.
@Suite struct LargeHeapModelTests {
    struct Range { var start: UInt, end: UInt, type: UInt32 }

    struct Model {
        var free: [Range] = [] // sorted by start
        var chunks: [Range] = []
        var live: [UInt: Range] = [:]

        func predict(size: UInt, alignment: Int, type: UInt32) -> UInt? {
            let mask = UInt(alignment - 1)
            func first(_ t: UInt32) -> UInt? {
                for r in free where r.type == t {
                    let a = (r.start + mask) & ~mask
                    if a <= r.end && r.end - a >= size { return a }
                }
                return nil
            }
            return first(type) ?? (type != 0 ? first(0) : nil)
        }

        mutating func insertFree(_ r: Range) {
            var r = r
            if let i = free.firstIndex(where: { $0.type == r.type && $0.end == r.start }) {
                r.start = free[i].start
                free.remove(at: i)
            }
            if let i = free.firstIndex(where: { $0.type == r.type && $0.start == r.end }) {
                r.end = free[i].end
                free.remove(at: i)
            }
            free.insert(r, at: free.firstIndex(where: { $0.start > r.start }) ?? free.count)
        }

        mutating func take(_ start: UInt, _ size: UInt, type: UInt32) {
            let i = free.firstIndex { $0.start <= start && start + size <= $0.end }!
            let r = free.remove(at: i)
            if r.start < start { insertFree(Range(start: r.start, end: start, type: r.type)) }
            if start + size < r.end { insertFree(Range(start: start + size, end: r.end, type: r.type)) }
            live[start] = Range(start: start, end: start + size, type: type)
        }
    }

    @Test(arguments: [21 as UInt64, 22, 23, 0xFACADE])
    func heapMatchesTheModel(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let (heap, mock) = makeLargeHeap(chunkPages: 64, reservationPages: 1024)
        var model = Model()
        // Every typed object ever freed: its memory may only go back to its own type.
        var tainted: [Range] = []
        for step in 0 ..< 1500 {
            let op = random.next(below: 10)
            if op < 5 || model.live.isEmpty {
                let size = random.next(below: 8) == 0 ? random.next(in: 1 ... 1 << 20) : random.next(in: 1 ... 40_000)
                let alignment = random.next(below: 3) == 0 ? 16 << random.next(below: 13) : 16
                let type = UInt32(random.next(below: 4))
                let rounded = UInt((size + 15) & ~15)
                var expected = model.predict(size: rounded, alignment: alignment, type: type)
                mock.clearEvents()
                let p = UInt(
                    bitPattern: try heap.allocate(
                        size: size, alignment: alignment,
                        type: LargeHeapType(rawValue: type)))
                if expected == nil {
                    // The heap grew: learn the new chunk from the mock and predict again.
                    for case let .commit(r, _) in mock.events
                    where !model.chunks.contains(where: { $0.start <= r.start && r.start < $0.end }) {
                        model.chunks.append(Range(start: r.start, end: r.end, type: 0))
                        model.insertFree(Range(start: r.start, end: r.end, type: 0))
                    }
                    expected = model.predict(size: rounded, alignment: alignment, type: type)
                }
                #expect(p == expected, "seed \(seed) step \(step): size \(size) alignment \(alignment) type \(type)")
                guard p == expected else { return }
                for t in tainted where t.type != type && t.start < p + rounded && p < t.end {
                    Issue.record("seed \(seed) step \(step): memory of type \(t.type) handed to type \(type)")
                }
                model.take(p, rounded, type: type)
            } else if op < 8 {
                let (start, r) = model.live.randomElement(using: &random)!
                try heap.deallocate(UnsafeMutableRawPointer(bitPattern: start)!)
                model.live[start] = nil
                model.insertFree(r)
                if r.type != 0 { tainted.append(r) }
            } else if op < 9 {
                let (start, r) = model.live.randomElement(using: &random)!
                let newSize = random.next(in: 1 ... Int(r.end - r.start))
                let rounded = UInt((newSize + 15) & ~15)
                try heap.shrink(UnsafeMutableRawPointer(bitPattern: start)!, to: newSize)
                #expect(try heap.size(of: UnsafeRawPointer(bitPattern: start)!) == Int(rounded), "seed \(seed) step \(step)")
                if start + rounded < r.end {
                    let tail = Range(start: start + rounded, end: r.end, type: r.type)
                    model.insertFree(tail)
                    if r.type != 0 { tainted.append(tail) }
                    model.live[start]!.end = start + rounded
                }
            } else {
                _ = try heap.decommitEmptyPages()
            }
            let s = heap.statistics
            #expect(s.freeRangeCount == model.free.count, "seed \(seed) step \(step)")
            #expect(s.objectCount == model.live.count, "seed \(seed) step \(step)")
            #expect(s.liveBytes == model.live.values.reduce(0) { $0 + Int($1.end - $1.start) }, "seed \(seed) step \(step)")
            if step % 50 == 0 {
                #expect(throws: Never.self, "seed \(seed) step \(step)") { try heap.verify() }
            }
        }
        for start in model.live.keys { try heap.deallocate(UnsafeMutableRawPointer(bitPattern: start)!) }
        try heap.verify()
        #expect(heap.statistics.liveBytes == 0, "seed \(seed)")
    }
}
