/// A view of a bitmap of 64-bit words: bit `i` is bit `i & 63` of word `i >> 6`.
///
/// Searches work a word at a time (mask, then count trailing or leading zeros). The view
/// owns nothing; a bitfit page header holds two of them (free bits, end-of-object bits).
///
/// Invariant: `words` points at initialised memory of at least `(limit + 63) / 64` words for
/// every `limit` passed in, and the caller holds the lock that protects that memory.
@usableFromInline @frozen
struct BitfitBitmap {
    @usableFromInline let words: UnsafeMutablePointer<UInt64>

    @inlinable @inline(__always)
    init(_ words: UnsafeMutablePointer<UInt64>) { self.words = words }

    @inlinable @inline(__always)
    func test(_ i: Int) -> Bool { words[i &>> 6] & (1 &<< UInt64(i & 63)) != 0 }

    @inlinable @inline(__always)
    func set(_ i: Int) { words[i &>> 6] |= 1 &<< UInt64(i & 63) }

    @inlinable @inline(__always)
    func clear(_ i: Int) { words[i &>> 6] &= ~(1 &<< UInt64(i & 63)) }

    /// Mask of bits `low ..< high` within one word (`0 <= low < high <= 64`).
    @inlinable @inline(__always)
    static func mask(_ low: Int, _ high: Int) -> UInt64 {
        // Truncating conversions: the bounds hold by contract, so no trap is needed.
        let upper: UInt64 = high == 64 ? ~0 : (1 &<< UInt64(truncatingIfNeeded: high)) &- 1
        return upper & ~((1 &<< UInt64(truncatingIfNeeded: low)) &- 1)
    }

    /// Sets bits `from ..< to`.
    @inlinable
    func setRange(_ from: Int, _ to: Int) {
        var i = from
        while i < to {
            let w = i &>> 6
            let high = min(64, to &- (w &<< 6))
            words[w] |= Self.mask(i & 63, high)
            i = (w &+ 1) &<< 6
        }
    }

    /// Clears bits `from ..< to`.
    @inlinable
    func clearRange(_ from: Int, _ to: Int) {
        var i = from
        while i < to {
            let w = i &>> 6
            let high = min(64, to &- (w &<< 6))
            words[w] &= ~Self.mask(i & 63, high)
            i = (w &+ 1) &<< 6
        }
    }

    /// True if every bit in `from ..< to` is set.
    @inlinable
    func allSet(_ from: Int, _ to: Int) -> Bool {
        var i = from
        while i < to {
            let w = i &>> 6
            let high = min(64, to &- (w &<< 6))
            let m = Self.mask(i & 63, high)
            if words[w] & m != m { return false }
            i = (w &+ 1) &<< 6
        }
        return true
    }

    /// True if no bit in `from ..< to` is set.
    @inlinable
    func noneSet(_ from: Int, _ to: Int) -> Bool {
        var i = from
        while i < to {
            let w = i &>> 6
            let high = min(64, to &- (w &<< 6))
            if words[w] & Self.mask(i & 63, high) != 0 { return false }
            i = (w &+ 1) &<< 6
        }
        return true
    }

    /// Index of the first set bit at or after `from`, or `limit` if there is none below `limit`.
    @inlinable
    func nextSet(from: Int, limit: Int) -> Int {
        if from >= limit { return limit }
        var w = from &>> 6
        var word = words[w] & ~((1 &<< UInt64(from & 63)) &- 1)
        let lastWord = (limit &- 1) &>> 6
        while true {
            if word != 0 { return min(limit, (w &<< 6) &+ word.trailingZeroBitCount) }
            w &+= 1
            if w > lastWord { return limit }
            word = words[w]
        }
    }

    /// Index of the first clear bit at or after `from`, or `limit` if there is none below `limit`.
    @inlinable
    func nextClear(from: Int, limit: Int) -> Int {
        if from >= limit { return limit }
        var w = from &>> 6
        var word = ~words[w] & ~((1 &<< UInt64(from & 63)) &- 1)
        let lastWord = (limit &- 1) &>> 6
        while true {
            if word != 0 { return min(limit, (w &<< 6) &+ word.trailingZeroBitCount) }
            w &+= 1
            if w > lastWord { return limit }
            word = ~words[w]
        }
    }

    /// Index of the last clear bit strictly before `before`, or -1 if bits `0 ..< before` are all set.
    @inlinable
    func previousClear(before: Int) -> Int {
        if before <= 0 { return -1 }
        let last = before &- 1
        var w = last &>> 6
        var word = ~words[w] & Self.mask(0, (last & 63) &+ 1)
        while true {
            if word != 0 { return (w &<< 6) &+ 63 &- word.leadingZeroBitCount }
            if w == 0 { return -1 }
            w &-= 1
            word = ~words[w]
        }
    }
}
