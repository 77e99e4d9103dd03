/// The bytes of one fuzz input, read front to back as the sequence's choices. Once the
/// bytes run out every read answers 0 and `isExhausted` is true, so any input is a valid
/// program: the sequence simply ends.
public struct FuzzInput {
    let bytes: [UInt8]
    var position = 0

    /// An input over `bytes`, read from the first.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// True once every byte has been read.
    public var isExhausted: Bool { position >= bytes.count }

    /// The next byte, or 0 past the end.
    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// A value in `0 ..< bound` (bound > 0) from the next two bytes.
    public mutating func below(_ bound: Int) -> Int {
        let raw = Int(byte()) | Int(byte()) << 8
        return raw % bound
    }

    /// A value in `range` from the next four bytes.
    public mutating func value(in range: ClosedRange<Int>) -> Int {
        let raw = UInt64(byte()) | UInt64(byte()) << 8 | UInt64(byte()) << 16 | UInt64(byte()) << 24
        return range.lowerBound + Int(raw % UInt64(range.count))
    }

    /// One of `choices` (not empty).
    public mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }
}
