/// A contiguous range of virtual addresses: `start ..< start + byteCount`.
///
/// A plain value; it owns nothing. Whoever reserved the range decides its lifetime.
@frozen
public struct MemoryRange: Hashable, Sendable, CustomStringConvertible {
    /// First address of the range.
    public var start: UInt
    /// Length in bytes.
    public var byteCount: Int

    @inlinable @inline(__always)
    public init(start: UInt, byteCount: Int) {
        self.start = start
        self.byteCount = byteCount
    }

    @inlinable @inline(__always)
    public init(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        self.start = UInt(bitPattern: pointer)
        self.byteCount = byteCount
    }

    /// One past the last address.
    @inlinable @inline(__always)
    public var end: UInt { start &+ UInt(bitPattern: byteCount) }

    /// The start as a pointer. Invariant: `start` is non-zero for every range handed out by a page source.
    @inlinable @inline(__always)
    public var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: start)! }

    @inlinable @inline(__always)
    public func contains(_ address: UInt) -> Bool { address >= start && address < end }

    @inlinable @inline(__always)
    public func contains(_ other: MemoryRange) -> Bool {
        other.start >= start && other.byteCount >= 0 && other.start <= end
            && UInt(bitPattern: other.byteCount) <= end - other.start
    }

    @inlinable @inline(__always)
    public func overlaps(_ other: MemoryRange) -> Bool { other.start < end && start < other.end }

    /// The sub-range at `offset` of `byteCount` bytes (not checked).
    @inlinable @inline(__always)
    public func slice(offset: Int, byteCount: Int) -> MemoryRange {
        MemoryRange(start: start &+ UInt(bitPattern: offset), byteCount: byteCount)
    }

    public var description: String { "0x\(String(start, radix: 16))+\(byteCount)" }
}

/// Access rights of a mapping.
@frozen
public struct Protection: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let none = Protection([])
    public static let read = Protection(rawValue: 1)
    public static let write = Protection(rawValue: 2)
    public static let execute = Protection(rawValue: 4)
    public static let readWrite: Protection = [.read, .write]
    public static let readExecute: Protection = [.read, .execute]
    public static let readWriteExecute: Protection = [.read, .write, .execute]

    public var description: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
    }
}

/// Alignment arithmetic on addresses and sizes.
public enum Alignment {
    /// True if `value` is a non-zero power of two.
    @inlinable @inline(__always)
    public static func isPowerOfTwo(_ value: Int) -> Bool { value > 0 && value & (value &- 1) == 0 }

    /// `value` rounded up to `alignment` (a power of two), or nil on overflow.
    @inlinable @inline(__always)
    public static func roundUp(_ value: Int, to alignment: Int) -> Int? {
        let (sum, overflow) = value.addingReportingOverflow(alignment &- 1)
        return overflow ? nil : sum & ~(alignment &- 1)
    }

    @inlinable @inline(__always)
    public static func roundUp(_ value: UInt, to alignment: Int) -> UInt {
        (value &+ UInt(alignment) &- 1) & ~(UInt(alignment) &- 1)
    }

    @inlinable @inline(__always)
    public static func roundDown(_ value: UInt, to alignment: Int) -> UInt { value & ~(UInt(alignment) &- 1) }

    @inlinable @inline(__always)
    public static func isAligned(_ value: UInt, to alignment: Int) -> Bool { value & (UInt(alignment) &- 1) == 0 }
}
