/// A block of code memory handed out by a `JITHeap`: its executable address.
///
/// A plain value; it does not own the block. The block stays valid until it is passed to
/// `JITHeap.deallocate`. Its size is `JITHeap.size(of:)`.
@frozen
public struct CodeBlock: Hashable, Sendable, CustomStringConvertible {
    /// The address where the code runs.
    public let address: UInt

    /// The handle of the block at `address` (the executable address a `JITHeap` returned).
    /// Checks nothing: a bad address is reported by the heap call it is passed to. Free.
    @inlinable
    public init(address: UInt) { self.address = address }

    /// The executable address as a pointer (to call through, never to write through).
    /// Invariant: blocks are never at address zero.
    @inlinable
    public var pointer: UnsafeRawPointer { UnsafeRawPointer(bitPattern: address)! }

    /// `CodeBlock(0x…)`, the address in hexadecimal.
    public var description: String { "CodeBlock(0x\(String(address, radix: 16)))" }
}
