import PasSystem

/// The errors the sequences expect from calls with bad input, as predicates to hand to
/// `expectError`.
enum ExpectedError {
    /// Any error (the call only has to fail).
    static func any(_ error: PasError) -> Bool { true }
    /// `.unknownPointer`: an address that is not a live block's start.
    static func unknownPointer(_ error: PasError) -> Bool {
        if case .unknownPointer = error { true } else { false }
    }
    /// `.invalidSize`: a size of zero, a negative size or one too large.
    static func invalidSize(_ error: PasError) -> Bool {
        if case .invalidSize = error { true } else { false }
    }
    /// `.invalidAlignment`: an alignment that is not a power of two or is too large.
    static func invalidAlignment(_ error: PasError) -> Bool {
        if case .invalidAlignment = error { true } else { false }
    }
    /// `.outOfBounds`: bytes that would reach past the block.
    static func outOfBounds(_ error: PasError) -> Bool {
        if case .outOfBounds = error { true } else { false }
    }
}
