/// Searches for runs of set bits (free granules) in a bitfit bitmap, a word at a time.
///
/// - Unaligned first fit (`firstRunOrLongest`): one pass in address order that visits the
///   runs inside each word with trailing-zero counts and carries runs across words; when
///   there is no fit it has computed the exact longest run on the way.
/// - Aligned first fit of at most 64 bits (`firstShortRun`): shift-and. After `r &= r >> s`
///   with doubling `s`, bit `p` of `r` says whether bits `p ..< p + s` are all set, so each
///   word costs O(log count) operations; a repeated mask keeps the aligned starts.
/// - Sparse starts (alignment above 64 bits) test each start; long aligned runs walk runs.
///
/// All searches read bits `0 ..< limit` only; bits at or past `limit` count as clear.
/// Invariant: as for `BitfitBitmap` (words hold at least `(limit + 63) / 64` initialised
/// words; the caller holds the lock that protects them).
extension BitfitBitmap {
    /// Mask of the valid bits of the last word below `limit` (`limit >= 1`).
    @inlinable @inline(__always)
    static func lastWordMask(limit: Int) -> UInt64 {
        mask(0, ((limit &- 1) & 63) &+ 1)
    }

    /// Bits `p` of a word such that `p ≡ phase (mod step)`, for a power of two `step <= 64`
    /// and `0 <= phase < step`. The same in every word, since `step` divides 64.
    @inlinable @inline(__always)
    static func startPattern(step: Int, phase: Int) -> UInt64 {
        if step == 1 { return ~0 }
        var pattern: UInt64 = 1
        var width = step
        while width < 64 {
            pattern |= pattern &<< UInt64(truncatingIfNeeded: width)
            width &<<= 1
        }
        return pattern &<< UInt64(truncatingIfNeeded: phase)
    }

    /// Bit `p` of the result is set if bits `p ..< p + length` of `x` are all set (bits past
    /// 63 count as clear). `1 <= length <= 64`. Cost: about 2·log2(length) operations.
    @inlinable @inline(__always)
    static func runStarts(_ x: UInt64, length: Int) -> UInt64 {
        // Invariant: every shift is in 1 ... 63 (s < length <= 64, 0 < length - s < s).
        var r = x
        var s = 1
        while s &<< 1 <= length {
            r &= r &>> UInt64(truncatingIfNeeded: s)
            s &<<= 1
        }
        if length > s { r &= r &>> UInt64(truncatingIfNeeded: length &- s) }
        return r
    }

    /// First fit for a short run: the lowest `p` below `limit` with bits `p ..< p + count`
    /// all set and `p ≡ phase (mod alignment)`, or -1 if there is none.
    ///
    /// Needs `1 <= count <= 64`, `alignment` a power of two `<= 64`, `0 <= phase < alignment`,
    /// `limit >= 1`. Runs inside one word come from `runStarts`; a run reaching into a word
    /// from below is carried as the count of set bits ending at the top of the words before
    /// it. Runs are met in address order: the carried run, then the runs inside the word
    /// (the word's top run is carried on). Cost: per word a load and a test when the word
    /// has no set bit, otherwise about 2·log2(count) + 10 operations; no calls, no traps.
    @inlinable @inline(__always)
    func firstShortRun(count: Int, alignment: Int, phase: Int, limit: Int) -> Int {
        let startMask = Self.startPattern(step: alignment, phase: phase)
        let lastWord = (limit &- 1) &>> 6
        let lastMask = Self.lastWordMask(limit: limit)
        var carry = 0 // set bits ending at the top of the previous word
        var w = 0
        while w <= lastWord {
            var x = words[w]
            if w == lastWord { x &= lastMask }
            if x != 0 {
                let base = w &<< 6
                if carry != 0 {
                    let runStart = base &- carry
                    let q = runStart &+ ((phase &- runStart) & (alignment &- 1))
                    if q &+ count <= base &+ (~x).trailingZeroBitCount { return q }
                }
                let r = Self.runStarts(x, length: count) & startMask
                if r != 0 { return base &+ r.trailingZeroBitCount }
                carry = x == ~0 ? carry &+ 64 : (~x).leadingZeroBitCount
            } else {
                carry = 0
            }
            w &+= 1
        }
        return -1
    }

    /// Unaligned first fit, and the longest run when there is no fit: the lowest `p` below
    /// `limit` with bits `p ..< p + count` all set, or -1 together with the length of the
    /// longest run of set bits below `limit`. On success `longest` is the longest run that
    /// ends before `p`.
    ///
    /// The search may start at word `fromWord` if the caller knows that no run lying wholly
    /// below bit `64 * fromWord` is longer than `best` (< `count`), and `carry` is the number
    /// of set bits ending at bit `64 * fromWord - 1`; `longest` then counts `best` too.
    ///
    /// Needs `count >= 1` and `limit >= 1`. One pass in address order: a run reaching into a
    /// word from below is carried as the count of set bits ending at the top of the words
    /// before it; the other runs of a word are visited lowest first with trailing-zero counts
    /// (`x & (x + 1)` drops the bottom run, adding a run's lowest bit clears it). Without
    /// alignment the first run of at least `count` bits starts the fit, so the pass stops
    /// there. (Measured on fragmented 1008-granule pages, this beats a shift-and test per
    /// word: pages hold a few runs per word, and the walk needs no second pass for the
    /// longest run.) Cost: per word a load and a test when it is all clear or all set,
    /// otherwise about 12 operations plus about 10 per run; no calls, no traps.
    @inlinable @inline(__always)
    func firstRunOrLongest(
        count: Int, limit: Int, fromWord: Int = 0, carry carryIn: Int = 0,
        best bestIn: Int = 0
    ) -> (start: Int, longest: Int) {
        let lastWord = (limit &- 1) &>> 6
        let lastMask = Self.lastWordMask(limit: limit)
        var best = bestIn // longest complete run seen so far; all shorter than `count`
        var carry = carryIn // set bits ending at the top of the previous word
        var w = fromWord
        while w <= lastWord {
            var x = words[w]
            if w == lastWord { x &= lastMask }
            let base = w &<< 6
            if x == 0 {
                best = max(best, carry)
                carry = 0
            } else if x == ~0 {
                carry &+= 64
                if carry >= count { return (base &+ 64 &- carry, best) }
            } else {
                // The run through the bottom of the word, with what is carried into it.
                let bottom = carry &+ (~x).trailingZeroBitCount
                if bottom >= count { return (base &- carry, best) }
                best = max(best, bottom)
                // The other runs, lowest first (x + 1 clears the bottom run). The top run
                // is carried on and counted where it ends.
                var y = x & (x &+ 1)
                while y != 0 {
                    let s = y.trailingZeroBitCount
                    let length = (~(y &>> UInt64(truncatingIfNeeded: s))).trailingZeroBitCount
                    if length >= count { return (base &+ s, best) }
                    if s &+ length < 64 { best = max(best, length) }
                    y &= y &+ (1 &<< UInt64(truncatingIfNeeded: s))
                }
                carry = (~x).leadingZeroBitCount
            }
            w &+= 1
        }
        return (-1, max(best, carry))
    }

    /// First fit with sparse starts: the lowest `p = first + k·step` (`k >= 0`) with bits
    /// `p ..< p + count` all set and `p + count <= limit`, or -1. Cost: one range test per
    /// candidate start, so meant for `step >= 64`.
    @inlinable
    func firstRun(count: Int, first: Int, step: Int, limit: Int) -> Int {
        var p = first
        while p &+ count <= limit {
            if allSet(p, p &+ count) { return p }
            p &+= step
        }
        return -1
    }

    /// First fit by walking free runs: the lowest `p >= 0` with bits `p ..< p + count` all set,
    /// `p + count <= limit` and `(p + offset)` a multiple of `alignment` (a power of two).
    /// Returns -1 if there is none. Cost: two word searches per free run before the fit.
    @inlinable
    func firstRunByWalk(count: Int, alignment: Int, offset: Int, limit: Int) -> Int {
        var position = 0
        while position < limit {
            let runStart = nextSet(from: position, limit: limit)
            if runStart >= limit { return -1 }
            let runEnd = nextClear(from: runStart, limit: limit)
            // Smallest start >= runStart with (offset + start) a multiple of alignment.
            let start = ((runStart &+ offset &+ alignment &- 1) & ~(alignment &- 1)) &- offset
            if start &+ count <= runEnd { return start }
            position = runEnd
        }
        return -1
    }

    /// Length of the longest run of set bits below `limit` (`limit >= 1`). Cost: one pass
    /// as in `firstRunOrLongest`.
    @inlinable
    func longestRun(limit: Int) -> Int {
        firstRunOrLongest(count: limit &+ 1, limit: limit).longest
    }
}
