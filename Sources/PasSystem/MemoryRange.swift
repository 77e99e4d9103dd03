/// A contiguous range of virtual addresses: `start ..< start + byteCount`.
///
/// A plain value; it owns nothing. Whoever reserved the range decides its lifetime.
@frozen
public struct MemoryRange: Hashable, Sendable, CustomStringConvertible {
    /// First address of the range.
    public var start: UInt
    /// Length in bytes.
    public var byteCount: Int

    /// The range of `byteCount` bytes from the address `start`. Free.
    @inlinable @inline(__always)
    public init(start: UInt, byteCount: Int) {
        self.start = start
        self.byteCount = byteCount
    }

    /// The range of `byteCount` bytes from `pointer`. Free.
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

    /// True if `address` lies in the range. Two compares.
    @inlinable @inline(__always)
    public func contains(_ address: UInt) -> Bool { address >= start && address < end }

    /// True if all of `other` lies in the range (an empty `other` at `end` counts). A few
    /// compares, overflow-safe.
    @inlinable @inline(__always)
    public func contains(_ other: MemoryRange) -> Bool {
        other.start >= start && other.byteCount >= 0 && other.start <= end
            && UInt(bitPattern: other.byteCount) <= end - other.start
    }

    /// True if the ranges share at least one address. Two compares.
    @inlinable @inline(__always)
    public func overlaps(_ other: MemoryRange) -> Bool { other.start < end && start < other.end }

    /// The sub-range at `offset` of `byteCount` bytes (not checked).
    @inlinable @inline(__always)
    public func slice(offset: Int, byteCount: Int) -> MemoryRange {
        MemoryRange(start: start &+ UInt(bitPattern: offset), byteCount: byteCount)
    }

    /// "0xstart+byteCount", the start in hex.
    public var description: String { "0x\(String(start, radix: 16))+\(byteCount)" }
}

/// Access rights of a mapping. A plain value.
@frozen
public struct Protection: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The `PROT_*` bits (read 1, write 2, execute 4: the same on every supported system).
    public var rawValue: Int32
    /// The rights whose `PROT_*` bits are `rawValue`.
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }

    /// No access: every touch faults.
    public static let none = Protection([])
    /// Loads.
    public static let read = Protection(rawValue: 1)
    /// Stores.
    public static let write = Protection(rawValue: 2)
    /// Instruction fetch.
    public static let execute = Protection(rawValue: 4)
    /// Data memory.
    public static let readWrite: Protection = [.read, .write]
    /// Code memory that runs.
    public static let readExecute: Protection = [.read, .execute]
    /// Code memory that is written in place (`ProtectionMode.rwx`).
    public static let readWriteExecute: Protection = [.read, .write, .execute]

    /// "rwx" with "-" for each right missing, as `/proc/self/maps` shows it.
    public var description: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
    }
}

/// Alignment arithmetic on addresses and sizes: a few instructions each, inlined, any thread.
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

    /// `value` rounded up to `alignment` (a power of two); wraps on overflow.
    @inlinable @inline(__always)
    public static func roundUp(_ value: UInt, to alignment: Int) -> UInt {
        (value &+ UInt(alignment) &- 1) & ~(UInt(alignment) &- 1)
    }

    /// `value` rounded down to `alignment` (a power of two).
    @inlinable @inline(__always)
    public static func roundDown(_ value: UInt, to alignment: Int) -> UInt { value & ~(UInt(alignment) &- 1) }

    /// True if `value` is a multiple of `alignment` (a power of two).
    @inlinable @inline(__always)
    public static func isAligned(_ value: UInt, to alignment: Int) -> Bool { value & (UInt(alignment) &- 1) == 0 }
}
