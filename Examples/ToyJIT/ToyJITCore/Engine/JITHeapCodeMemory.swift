import PasJIT

/// Installs compiled functions into a `JITHeap`: allocate a block, copy the code through the
/// heap's write path (which flushes the instruction cache), return the executable address.
public final class JITHeapCodeMemory: CodeMemory {
    /// The heap code goes into.
    public let heap: JITHeap

    public init(heap: JITHeap) { self.heap = heap }

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

    public func release(_ address: UInt) throws {
        try heap.deallocate(CodeBlock(address: address))
    }

    public func shrink(_ address: UInt, to size: Int) throws {
        try heap.shrink(CodeBlock(address: address), to: size)
    }
}
