import Testing
import PasTestSupport
@testable import Pas

/// The word-at-a-time bit searches against one-bit-at-a-time versions, on random bitmaps.
@Suite struct BitfitBitmapTests {
    @Test func searchesAndRangeOperationsMatchANaiveBitmap() {
        let seed = freshSeed()
        var rng = SplitMix64(seed: seed)
        let wordCount = 5
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: wordCount)
        defer { words.deallocate() }
        let bitmap = BitfitBitmap(words)
        for round in 0 ..< 300 {
            // Sparse, dense and random words, so runs cross word boundaries.
            for w in 0 ..< wordCount {
                switch Int.random(in: 0 ..< 4, using: &rng) {
                case 0: words[w] = 0
                case 1: words[w] = ~0
                default: words[w] = rng.next() & rng.next() | (Bool.random(using: &rng) ? rng.next() : 0)
                }
            }
            var naive = (0 ..< wordCount * 64).map { words[$0 >> 6] >> UInt64($0 & 63) & 1 == 1 }
            let limit = Int.random(in: 1 ... wordCount * 64, using: &rng)
            for from in 0 ... limit {
                let set = (from ..< limit).first { naive[$0] } ?? limit
                let clear = (from ..< limit).first { !naive[$0] } ?? limit
                let previous = (0 ..< from).last { !naive[$0] } ?? -1
                #expect(bitmap.nextSet(from: from, limit: limit) == set, "seed \(seed) round \(round) from \(from)")
                #expect(bitmap.nextClear(from: from, limit: limit) == clear, "seed \(seed) round \(round) from \(from)")
                #expect(bitmap.previousClear(before: from) == previous, "seed \(seed) round \(round) before \(from)")
            }
            #expect(bitmap.popCount(limit: limit) == naive[..<limit].filter { $0 }.count, "seed \(seed)")
            let a = Int.random(in: 0 ... limit, using: &rng), b = Int.random(in: a ... limit, using: &rng)
            #expect(bitmap.allSet(a, b) == !naive[a ..< b].contains(false), "seed \(seed) \(a)..<\(b)")
            #expect(bitmap.noneSet(a, b) == !naive[a ..< b].contains(true), "seed \(seed) \(a)..<\(b)")
            if Bool.random(using: &rng) {
                bitmap.setRange(a, b)
                for i in a ..< b { naive[i] = true }
            } else {
                bitmap.clearRange(a, b)
                for i in a ..< b { naive[i] = false }
            }
            for i in 0 ..< wordCount * 64 where bitmap.test(i) != naive[i] {
                Issue.record("seed \(seed) round \(round): bit \(i) after range update \(a)..<\(b)")
                return
            }
        }
    }
}

extension BitfitBitmap {
    /// Number of set bits in `0 ..< limit`, a word at a time (the tests' count of free bits).
    func popCount(limit: Int) -> Int {
        var n = 0
        var i = 0
        while i < limit {
            let w = i &>> 6
            let high = min(64, limit &- (w &<< 6))
            n &+= (words[w] & Self.mask(0, high)).nonzeroBitCount
            i = (w &+ 1) &<< 6
        }
        return n
    }
}
