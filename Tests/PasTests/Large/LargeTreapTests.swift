import Testing
@testable import Pas
import PasSystem
import PasTestSupport

/// The treap, the span sets and the large map against plain sorted-array / dictionary models.
@Suite struct LargeTreapTests {
    struct Key: Comparable {
        var type: UInt32, start: UInt
        static func < (a: Key, b: Key) -> Bool { (a.type, a.start) < (b.type, b.start) }
    }

    @Test(arguments: [1 as UInt64, 2, 3, 0xC0FFEE])
    func treapMatchesASortedArray(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var pool = try LargeNodePool()
        defer { pool.release() }
        var root: UInt32 = 0
        // Model: sorted (key, end, index).
        var model: [(key: Key, end: UInt, index: UInt32)] = []
        for step in 0 ..< 3000 {
            let t = pool.treap
            if model.isEmpty || random.next(below: 3) != 0 {
                let key = Key(type: UInt32(random.next(below: 3)), start: UInt(random.next(in: 1 ... 4000)) * 64)
                if model.contains(where: { $0.key == key }) { continue }
                try pool.reserve(1)
                let end = key.start + UInt(random.next(in: 1 ... 40)) * 64
                let x = pool.allocate(start: key.start, end: end, type: key.type)
                pool.treap.insert(&root, x)
                let at = model.firstIndex(where: { key < $0.key }) ?? model.count
                model.insert((key, end, x), at: at)
            } else {
                let i = random.next(below: model.count)
                t.remove(&root, model[i].index)
                pool.free(model[i].index)
                model.remove(at: i)
            }
            // In-order walk.
            var walked: [Key] = []
            var x = pool.treap.ceiling(root, 0, 0)
            while x != 0 {
                let n = pool.treap[x]
                walked.append(Key(type: n.type, start: n.start))
                x = pool.treap.higher(root, n.type, n.start)
            }
            #expect(walked == model.map(\.key), "seed \(seed) step \(step)")
            // Neighbour queries at a random probe.
            let probe = Key(type: UInt32(random.next(below: 3)), start: UInt(random.next(in: 0 ... 4100)) * 64)
            func start(_ i: UInt32) -> Key? { i == 0 ? nil : Key(type: pool.treap[i].type, start: pool.treap[i].start) }
            #expect(
                start(pool.treap.floor(root, probe.type, probe.start)) == model.last(where: { $0.key <= probe })?.key,
                "floor, seed \(seed) step \(step)")
            #expect(
                start(pool.treap.lower(root, probe.type, probe.start)) == model.last(where: { $0.key < probe })?.key,
                "lower, seed \(seed) step \(step)")
            #expect(
                start(pool.treap.ceiling(root, probe.type, probe.start)) == model.first(where: { $0.key >= probe })?.key,
                "ceiling, seed \(seed) step \(step)")
            #expect(
                start(pool.treap.higher(root, probe.type, probe.start)) == model.first(where: { $0.key > probe })?.key,
                "higher, seed \(seed) step \(step)")
            // First fit with alignment.
            let size = UInt(random.next(in: 1 ... 30)) * 64
            let alignment = 64 << random.next(below: 6)
            let mask = UInt(alignment - 1)
            let expected = model.first { e in
                let a = (e.key.start + mask) & ~mask
                return e.key.type == probe.type && a <= e.end && e.end - a >= size
            }
            let fit = pool.treap.firstFit(root, type: probe.type, size: size, alignment: alignment)
            #expect(fit.node == (expected?.index ?? 0), "firstFit, seed \(seed) step \(step)")
            if let expected {
                #expect(fit.address == (expected.key.start + mask) & ~mask, "seed \(seed) step \(step)")
            }
        }
        #expect(pool.liveCount == model.count, "seed \(seed)")
    }

    @Test(arguments: [7 as UInt64, 8, 0xBEEF])
    func spanSetMatchesAPageBitmap(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var pool = try LargeNodePool()
        defer { pool.release() }
        var root: UInt32 = 0
        let unit: UInt = 4096, units = 256
        var bitmap = [Bool](repeating: false, count: units)
        for step in 0 ..< 2000 {
            let a = random.next(below: units), b = min(units, a + random.next(in: 1 ... 24))
            try pool.reserve(1)
            if random.next(below: 2) == 0 {
                // Insert only the part that is not in the set yet, piece by piece.
                var i = a
                while i < b {
                    if bitmap[i] { i += 1; continue }
                    var j = i
                    while j < b && !bitmap[j] { j += 1 }
                    try pool.reserve(1)
                    pool.insertSpan(&root, start: UInt(i + 1) * unit, end: UInt(j + 1) * unit)
                    for k in i ..< j { bitmap[k] = true }
                    i = j
                }
            } else {
                let removed = pool.removeSpan(&root, start: UInt(a + 1) * unit, end: UInt(b + 1) * unit)
                #expect(removed == bitmap[a ..< b].filter { $0 }.count * Int(unit), "seed \(seed) step \(step)")
                for k in a ..< b { bitmap[k] = false }
            }
            // Compare maximal runs with the spans, in order.
            var runs: [(UInt, UInt)] = []
            var i = 0
            while i < units {
                if !bitmap[i] { i += 1; continue }
                var j = i
                while j < units && bitmap[j] { j += 1 }
                runs.append((UInt(i + 1) * unit, UInt(j + 1) * unit))
                i = j
            }
            var spans: [(UInt, UInt)] = []
            var x = pool.treap.ceiling(root, 0, 0)
            while x != 0 {
                spans.append((pool.treap[x].start, pool.treap[x].end))
                x = pool.treap.higher(root, 0, pool.treap[x].start)
            }
            #expect(spans.elementsEqual(runs, by: { $0 == $1 }), "seed \(seed) step \(step)")
            let probe = UInt(random.next(in: 0 ... units + 2)) * unit + 100
            let inModel = probe >= unit && Int(probe / unit) - 1 < units && bitmap[Int(probe / unit) - 1]
            #expect((pool.span(root, containing: probe) != 0) == inModel, "seed \(seed) step \(step)")
        }
    }

    @Test(arguments: [11 as UInt64, 12])
    func largeMapMatchesADictionary(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var map = try LargeMap()
        defer { map.release() }
        var model: [UInt: UInt] = [:]
        for step in 0 ..< 20_000 {
            // Clustered keys make long probe runs and exercise backward-shift deletion.
            let key = UInt(random.next(in: 1 ... 3000)) * 16 + (random.next(below: 4) == 0 ? 0x7F00_0000_0000 : 0)
            if let slot = map.find(key) {
                #expect(model[key] == map[slot: slot].size, "seed \(seed) step \(step)")
                if random.next(below: 2) == 0 {
                    map.remove(slot: slot)
                    model[key] = nil
                }
            } else {
                #expect(model[key] == nil, "seed \(seed) step \(step)")
                try map.reserve(1)
                let size = UInt(random.next(in: 1 ... 1000))
                map.insert(LargeMapEntry(start: key, size: size, type: 0))
                model[key] = size
            }
            #expect(map.count == model.count, "seed \(seed) step \(step)")
        }
        for (key, size) in model {
            let slot = map.find(key)
            #expect(slot.map { map[slot: $0].size } == size, "seed \(seed)")
        }
    }
}
