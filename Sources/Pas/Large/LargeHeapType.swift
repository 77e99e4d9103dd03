/// The type tag of a large-heap allocation, for isoheap-style use.
///
/// The type memory rule: fresh memory from a chunk is untyped. Once an object of type A is
/// freed, its range is tagged A, and only allocations of type A may reuse it. Typed free
/// ranges coalesce only with free ranges of the same type; untyped allocations never reuse
/// typed ranges; a typed allocation first reuses its own type's ranges and otherwise takes
/// untyped (fresh or untyped-freed) memory. So memory that once held an A is never handed
/// out as a B.
///
/// A plain value; thread-safe.
@frozen
public struct LargeHeapType: Hashable, Sendable, CustomStringConvertible {
    /// The tag. Zero is `untyped`.
    public let rawValue: UInt32

    /// The tag `rawValue` (0 is `untyped`). Free.
    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Memory that carries no type: fresh chunk memory and objects allocated without a type.
    public static let untyped = LargeHeapType(rawValue: 0)

    /// `untyped`, or `type#` and the tag.
    public var description: String { rawValue == 0 ? "untyped" : "type#\(rawValue)" }
}
