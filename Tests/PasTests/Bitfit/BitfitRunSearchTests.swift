import Testing
import PasTestSupport
@testable import Pas

/// The run searches (shift-and first fit, sparse and walked first fit, longest run) and
/// `BitfitPage.allocate` against bit-at-a-time references, on random bitmaps with runs of
/// every length, limits on and next to word edges, all short counts and all alignments.
@Suite struct BitfitRunSearchTests {
    static let wordCount = 17

    /// A reference bitmap: bits and, for each bit, the length of the run of set bits from it.
    struct Naive {
        var bits: [Bool]
        var limit: Int
        var runFrom: [Int]

        init(_ words: UnsafeMutablePointer<UInt64>, limit: Int) {
            bits = (0 ..< limit).map { words[$0 >> 6] >> UInt64($0 & 63) & 1 == 1 }
            self.limit = limit
            runFrom = Array(repeating: 0, count: limit + 1)
            for i in stride(from: limit - 1, through: 0, by: -1) where bits[i] { runFrom[i] = runFrom[i + 1] + 1 }
        }

        func firstFit(count: Int, alignment: Int, phase: Int) -> Int {
            var p = phase
            while p + count <= limit {
                if runFrom[p] >= count { return p }
                p += alignment
            }
            return -1
        }

        var longest: Int { runFrom.max() ?? 0 }

        /// The longest maximal run starting below bit `floor` (0 if none).
        func longestStarting(below floor: Int) -> Int {
            (0 ..< min(floor, limit)).filter { bits[$0] && ($0 == 0 || !bits[$0 - 1]) }.map { runFrom[$0] }.max() ?? 0
        }
    }

    /// Fills `words` with a random pattern: alternating runs of random lengths (short, long
    /// or word-sized), or random words, so runs start and end at and across word edges.
    static func fill(_ words: UnsafeMutablePointer<UInt64>, count: Int, using rng: inout SplitMix64) {
        words.update(repeating: 0, count: count)
        let bitmap = BitfitBitmap(words)
        if Int.random(in: 0 ..< 4, using: &rng) == 0 {
            for w in 0 ..< count { words[w] = rng.next() | rng.next() }
            return
        }
        let maxSet = [3, 12, 70, 200][Int.random(in: 0 ..< 4, using: &rng)]
        let maxClear = [2, 8, 40][Int.random(in: 0 ..< 3, using: &rng)]
        var i = Int.random(in: 0 ..< 4, using: &rng)
        while i < count * 64 {
            let run = min(Int.random(in: 1 ... maxSet, using: &rng), count * 64 - i)
            bitmap.setRange(i, i + run)
            i += run + Int.random(in: 1 ... maxClear, using: &rng)
        }
    }

    static func randomLimit(using rng: inout SplitMix64) -> Int {
        let edges = [1, 2, 63, 64, 65, 127, 128, 129, 512, 1008, 1023, 1024, 1025, wordCount * 64]
        return Bool.random(using: &rng) ? edges.randomElement(using: &rng)! : Int.random(in: 1 ... wordCount * 64, using: &rng)
    }

    @Test func firstFitsMatchTheReferenceForEveryCountAndAlignment() {
        let seed = freshSeed()
        var rng = SplitMix64(seed: seed)
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.wordCount)
        defer { words.deallocate() }
        let bitmap = BitfitBitmap(words)
        for round in 0 ..< 40 {
            Self.fill(words, count: Self.wordCount, using: &rng)
            let limit = Self.randomLimit(using: &rng)
            let naive = Naive(words, limit: limit)
            #expect(bitmap.longestRun(limit: limit) == naive.longest, "seed \(seed) round \(round) limit \(limit)")
            for count in Array(1 ... 130) + [200, 300, 1000, 1100] {
                let (start, longest) = bitmap.firstRunOrLongest(count: count, limit: limit)
                let expected = naive.firstFit(count: count, alignment: 1, phase: 0)
                #expect(start == expected, "seed \(seed) round \(round) limit \(limit) count \(count)")
                if expected < 0 {
                    #expect(longest == naive.longest, "seed \(seed) round \(round) limit \(limit) count \(count)")
                }
            }
            for count in 1 ... 64 {
                for shift in 0 ... 6 {
                    let alignment = 1 << shift
                    let phase = Int.random(in: 0 ..< alignment, using: &rng)
                    let found = bitmap.firstShortRun(count: count, alignment: alignment, phase: phase, limit: limit)
                    #expect(
                        found == naive.firstFit(count: count, alignment: alignment, phase: phase),
                        "seed \(seed) round \(round) limit \(limit) count \(count) alignment \(alignment) phase \(phase)")
                }
            }
        }
    }

    @Test func longRunsAndSparseStartsMatchTheReference() {
        let seed = freshSeed()
        var rng = SplitMix64(seed: seed)
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.wordCount)
        defer { words.deallocate() }
        let bitmap = BitfitBitmap(words)
        for round in 0 ..< 60 {
            Self.fill(words, count: Self.wordCount, using: &rng)
            let limit = Self.randomLimit(using: &rng)
            let naive = Naive(words, limit: limit)
            for _ in 0 ..< 40 {
                let count = Int.random(in: 1 ... 300, using: &rng)
                let alignment = 1 << Int.random(in: 0 ... 9, using: &rng)
                let offset = Int.random(in: 0 ..< 32, using: &rng)
                let phase = (0 - offset) & (alignment - 1)
                let expected = naive.firstFit(count: count, alignment: alignment, phase: phase)
                #expect(
                    bitmap.firstRunByWalk(count: count, alignment: alignment, offset: offset, limit: limit) == expected,
                    "seed \(seed) round \(round) limit \(limit) count \(count) alignment \(alignment) offset \(offset)")
                #expect(
                    bitmap.firstRun(count: count, first: phase, step: alignment, limit: limit) == expected,
                    "seed \(seed) round \(round) limit \(limit) count \(count) alignment \(alignment) phase \(phase)")
            }
        }
    }

    @Test func startPatternsMarkEveryAlignedBit() {
        for shift in 0 ... 6 {
            let step = 1 << shift
            for phase in 0 ..< step {
                let expected = (0 ..< 64).reduce(UInt64(0)) { $1 % step == phase ? $0 | 1 << UInt64($1) : $0 }
                #expect(BitfitBitmap.startPattern(step: step, phase: phase) == expected, "step \(step) phase \(phase)")
            }
        }
    }

    @Test func pageAllocateIsExactFirstFitInEveryConfig() {
        check(SmallBitfitConfig.self)
        check(MediumBitfitConfig.self)
        check(MargeBitfitConfig.self)
        check(JITMediumBitfitConfig.self)
    }

    /// Random free bits in one page header, then random allocations (checked against the
    /// reference's first fit, alignment counted from the page start as addresses are), frees,
    /// shrinks and grows of the allocated objects. A failed allocation must set the hint to
    /// the longest free run; the search floor must stay true throughout.
    func check<C: BitfitConfig>(_: C.Type) {
        let seed = freshSeed()
        var rng = SplitMix64(seed: seed)
        let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * C.bitmapWords)
        defer { bits.deallocate() }
        let entry = UnsafeMutablePointer<BitfitPageEntry>.allocate(capacity: 1)
        defer { entry.deallocate() }
        entry.initialize(
            to: BitfitPageEntry(
                base: 1 << 40, bits: bits, index: 0, liveGranules: 0,
                largestFreeHint: C.payloadGranules, emptySince: 0, isCommitted: true))
        let page = BitfitPage<C>(entry)
        let limit = C.payloadGranules
        let maxAlign = min(C.granulesPerPage, 512)
        for round in 0 ..< 30 {
            bits.update(repeating: 0, count: 2 * C.bitmapWords)
            Self.fill(bits, count: C.bitmapWords, using: &rng)
            page.freeBits.clearRange(limit, C.bitmapWords * 64)
            page.forgetScanFloor()
            var objects: [(start: Int, end: Int)] = []
            for step in 0 ..< 80 {
                let naive = Naive(bits, limit: limit)
                let where_ = "\(C.self) seed \(seed) round \(round) step \(step)"
                // The floor: its bound is the longest run starting below it.
                let floor = Int(entry.pointee.scanFloorGranule), bound = Int(entry.pointee.scanFloorLongest)
                #expect(bound <= naive.longest, "\(where_): floor bound \(bound) above the longest run")
                #expect(bound == naive.longestStarting(below: floor), "\(where_): floor \(floor) bound \(bound)")
                let action = objects.isEmpty ? 0 : Int.random(in: 0 ..< 10, using: &rng)
                if action >= 7 {
                    let k = Int.random(in: 0 ..< objects.count, using: &rng)
                    let object = objects[k]
                    switch action {
                    case 7, 8:
                        _ = page.free(start: object.start, end: object.end)
                        objects.remove(at: k)
                    default:
                        let size = object.end - object.start + 1
                        let target = Int.random(in: 1 ... size + 8, using: &rng)
                        if target <= size {
                            _ = page.shrink(start: object.start, end: object.end, to: target)
                            objects[k].end = object.start + target - 1
                        } else if page.grow(start: object.start, end: object.end, to: target) >= 0 {
                            objects[k].end = object.start + target - 1
                        }
                    }
                    continue
                }
                let count =
                    Bool.random(using: &rng)
                    ? Int.random(in: 1 ... 64, using: &rng)
                    : Int.random(in: 1 ... C.maxObjectGranules, using: &rng)
                let alignment =
                    Int.random(in: 0 ..< 4, using: &rng) == 0
                    ? 1 << Int.random(in: 0 ... maxAlign.trailingZeroBitCount, using: &rng) : 1
                let phase = (0 - C.payloadOffsetGranules) & (alignment - 1)
                let expected = naive.firstFit(count: count, alignment: alignment, phase: phase)
                let live = entry.pointee.liveGranules
                let start = page.allocate(granules: count, alignGranules: alignment)
                let what = "\(where_) count \(count) alignment \(alignment)"
                #expect(start == expected, "\(what)")
                if start >= 0 {
                    #expect(page.freeBits.noneSet(start, start + count), "\(what)")
                    #expect(page.endBits.test(start + count - 1), "\(what)")
                    #expect(entry.pointee.liveGranules == live + count, "\(what)")
                    #expect(page.freeBits.popCount(limit: limit) == naive.bits.filter { $0 }.count - count, "\(what)")
                    objects.append((start, start + count - 1))
                } else {
                    #expect(entry.pointee.largestFreeHint == naive.longest, "\(what)")
                    #expect(page.longestFreeRun() == naive.longest, "\(what)")
                }
                if start != expected { return }
            }
        }
    }
}
