/// A deterministic pseudo-random generator (SplitMix64) for the randomised tests of every
/// target, so a failure can be replayed from the seed its message prints.
///
/// Every seed, zero included, gives a full-period sequence. A value type with no locks:
/// each thread of a test draws from its own generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's position; the next number is derived from `state` plus the golden-ratio step.
    public var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits. Constant time.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0 ..< bound` (`bound > 0`), from one draw reduced modulo `bound`: cheap, and
    /// its bias of at most `bound / 2^64` does not matter to a test. Constant time.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "SplitMix64.next(below:) needs a positive bound, got \(bound)")
        return Int(truncatingIfNeeded: next() % UInt64(bound))
    }

    /// A number in `range`, from one draw (see `next(below:)`). Constant time.
    public mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + next(below: range.count)
    }
}
