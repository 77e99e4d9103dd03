import PasJIT

/// Installs compiled functions into a `JITHeap`: allocate a block, copy the code through the
/// heap's write path (which flushes the instruction cache), return the executable address.
public final class JITHeapCodeMemory: CodeMemory {
    /// The heap code goes into.
    public let heap: JITHeap

    /// Installs code into `heap`.
    public init(heap: JITHeap) { self.heap = heap }

    /// Allocates a block of `bytes.count` bytes (at least 1) at `alignment`, copies `bytes` in
    /// through `JITHeap.copy` and returns the block's executable address; frees the block again
    /// if the copy throws. Cost: an allocation and a copy. Thread-safe, like the heap.
    public func install(_ bytes: [UInt8], alignment: Int) throws -> UInt {
        let block = try heap.allocate(size: max(bytes.count, 1), alignment: alignment)
        do {
            try heap.copy(bytes, into: block)
        } catch {
            try? heap.deallocate(block)
            throw error
        }
        return block.address
    }

    /// Frees the block at `address` (see `JITHeap.deallocate(_:)`).
    public func release(_ address: UInt) throws {
        try heap.deallocate(CodeBlock(address: address))
    }

    /// Shrinks the block at `address` in place to at least `size` bytes
    /// (see `JITHeap.shrink(_:to:)`).
    public func shrink(_ address: UInt, to size: Int) throws {
        try heap.shrink(CodeBlock(address: address), to: size)
    }
}
