import Testing
@testable import Pas

/// The unaligned search floor of `BitfitPage` (`scanFloorGranule`, `scanFloorLongest`) after
/// frees that merge the run giving the floor's bound into a run the bound must then cover.
/// Before the fix, each sequence left a bound naming a run that no longer existed, and the
/// failed search at the end reported it as the longest free run.
@Suite struct BitfitScanFloorTests {
    typealias C = MediumBitfitConfig

    /// A page whose granules are all used except the runs `free`; `objects` get end bits.
    /// Calls `body` with the page and checks the floor against the bits after it.
    func withPage(
        free runs: [Range<Int>], objects: [ClosedRange<Int>],
        _ body: (BitfitPage<C>) -> Void
    ) {
        let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * C.bitmapWords)
        defer { bits.deallocate() }
        bits.update(repeating: 0, count: 2 * C.bitmapWords)
        let entry = UnsafeMutablePointer<BitfitPageEntry>.allocate(capacity: 1)
        defer { entry.deallocate() }
        let freeCount = runs.reduce(0) { $0 + $1.count }
        entry.initialize(
            to: BitfitPageEntry(
                base: 1 << 40, bits: bits, index: 0,
                liveGranules: C.payloadGranules - freeCount,
                largestFreeHint: C.payloadGranules, emptySince: 0, isCommitted: true))
        let page = BitfitPage<C>(entry)
        for run in runs { page.freeBits.setRange(run.lowerBound, run.upperBound) }
        for object in objects { page.endBits.set(object.upperBound) }
        body(page)
    }

    /// Length of the longest run of free granules starting below `floor`, bit by bit.
    func longestStarting(below floor: Int, _ page: BitfitPage<C>) -> Int {
        var best = 0, i = 0
        while i < min(floor, C.payloadGranules) {
            if page.freeBits.test(i) {
                var j = i
                while j < C.payloadGranules && page.freeBits.test(j) { j += 1 }
                best = max(best, j - i)
                i = j
            } else {
                i += 1
            }
        }
        return best
    }

    func expectFloorTrue(_ page: BitfitPage<C>, _ what: String) {
        let floor = Int(page.entry.pointee.scanFloorGranule), bound = Int(page.entry.pointee.scanFloorLongest)
        #expect(bound == longestStarting(below: floor, page), "\(what): floor \(floor) bound \(bound)")
    }

    /// Free run 10..<26 (16) sets the bound; the free of 26...129 merges it into 10..<140,
    /// which reaches across the floor's word boundary (128), and an exact allocation takes
    /// that whole run. No 16-granule run is left.
    @Test func runMergedAcrossTheFloorThenTaken() {
        withPage(free: [10 ..< 26, 130 ..< 140, 150 ..< 170], objects: [26 ... 129]) { page in
            #expect(page.allocate(granules: 20, alignGranules: 1) == 150)
            #expect(page.entry.pointee.scanFloorLongest == 16)
            expectFloorTrue(page, "after the first allocation")
            #expect(page.free(start: 26, end: 129) == 104)
            expectFloorTrue(page, "after the merging free")
            #expect(page.allocate(granules: 130, alignGranules: 1) == 10)
            expectFloorTrue(page, "after taking the merged run")
            #expect(page.longestFreeRun() == 0)
            #expect(page.allocate(granules: 17, alignGranules: 1) == -1)
            #expect(page.entry.pointee.largestFreeHint == 0)
        }
    }

    /// Free run 130..<140 (10) in the floor's word but below the fit at 150 sets the bound;
    /// the free of 140...149 grows it to 130..<150, which starts in that word, and an exact
    /// allocation takes it. Only a 5-granule run is left.
    @Test func runInTheFloorWordGrownThenTaken() {
        withPage(free: [0 ..< 5, 130 ..< 140, 150 ..< 170], objects: [140 ... 149]) { page in
            #expect(page.allocate(granules: 20, alignGranules: 1) == 150)
            #expect(page.entry.pointee.scanFloorLongest == 10)
            expectFloorTrue(page, "after the first allocation")
            #expect(page.free(start: 140, end: 149) == 10)
            expectFloorTrue(page, "after the growing free")
            #expect(page.allocate(granules: 20, alignGranules: 1) == 130)
            expectFloorTrue(page, "after taking the grown run")
            #expect(page.allocate(granules: 11, alignGranules: 1) == -1)
            #expect(page.entry.pointee.largestFreeHint == 5)
        }
    }

    /// A shrink merges like a free: the freed tail of 120...134 joins the run 135..<145 (10)
    /// that gave the bound, and an exact allocation takes the grown run.
    @Test func shrinkGrowingTheBoundRunThenTaken() {
        withPage(free: [0 ..< 5, 135 ..< 145, 150 ..< 170], objects: [120 ... 134]) { page in
            #expect(page.allocate(granules: 20, alignGranules: 1) == 150)
            #expect(page.entry.pointee.scanFloorLongest == 10)
            #expect(page.shrink(start: 120, end: 134, to: 5) == 10)
            expectFloorTrue(page, "after the shrink")
            #expect(page.allocate(granules: 20, alignGranules: 1) == 125)
            expectFloorTrue(page, "after taking the shrink's run")
            #expect(page.allocate(granules: 11, alignGranules: 1) == -1)
            #expect(page.entry.pointee.largestFreeHint == 5)
        }
    }
}
