import PasSystem

/// A code block that exactly one value owns: the noncopyable counterpart of `CodeBlock`.
///
/// It holds its heap and its block's handle. It cannot be copied, and `deallocate()`
/// consumes it, so the compiler rules out freeing the block twice and using the owner after
/// the free. Borrow `block` for the calls that take a `CodeBlock` (running, writing, `size`);
/// a copied `CodeBlock` is a plain address, and the compiler does not follow it.
///
/// Dropping an owner without `deallocate()` leaks the block, as forgetting a `CodeBlock`
/// does: there is no implicit free, because code may still be running or referenced from other
/// code when its owner goes away. `release()` hands the block back to manual management.
///
/// Cost: the heap's operations, plus a retain of the heap when the owner is made and a
/// release when it is consumed (moving an owner costs nothing). Thread-safety: an owner is
/// `Sendable` and may move between threads; the heap's methods are thread-safe.
public struct OwnedCodeBlock: ~Copyable, Sendable {
    /// The heap the block belongs to; kept alive by the owner.
    public let heap: JITHeap
    /// The block's handle, for the heap's methods and for calling the code.
    public let block: CodeBlock

    /// Allocates a block of at least `size` bytes at a multiple of `alignment` (see
    /// `JITHeap.allocate(size:alignment:)`, whose errors and cost it has).
    public init(in heap: JITHeap, size: Int, alignment: Int = 16) throws(PasError) {
        self.block = try heap.allocate(size: size, alignment: alignment)
        self.heap = heap
    }

    /// Allocates a block for `bytes` and copies them in (see `JITHeap.install(_:alignment:)`,
    /// whose errors and cost it has).
    public init(installing bytes: UnsafeRawBufferPointer, in heap: JITHeap, alignment: Int = 16) throws(PasError) {
        self.block = try heap.install(bytes, alignment: alignment)
        self.heap = heap
    }

    /// Allocates a block for `bytes` and copies them in (see `JITHeap.install(_:alignment:)`).
    public init(installing bytes: [UInt8], in heap: JITHeap, alignment: Int = 16) throws(PasError) {
        self.block = try heap.install(bytes, alignment: alignment)
        self.heap = heap
    }

    /// Takes ownership of `block`, a live block of `heap`. Checks nothing (free): from here on
    /// the caller must free the block only through this owner.
    public init(adopting block: CodeBlock, in heap: JITHeap) {
        self.block = block
        self.heap = heap
    }

    /// The address where the code runs.
    public var address: UInt { block.address }

    /// The block's usable size (see `JITHeap.size(of:)`).
    public func size() throws(PasError) -> Int { try heap.size(of: block) }

    /// Runs `body` with the block's bytes writable (see `JITHeap.withWritableBytes(of:_:)`).
    public func withWritableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(PasError) -> R) throws(PasError) -> R {
        try heap.withWritableBytes(of: block, body)
    }

    /// Copies `bytes` into the block at `offset` (see `JITHeap.copy(_:into:at:)`).
    public func copy(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) throws(PasError) {
        try heap.copy(bytes, into: block, at: offset)
    }

    /// Copies `bytes` into the block at `offset` (see `JITHeap.copy(_:into:at:)`).
    public func copy(_ bytes: [UInt8], at offset: Int = 0) throws(PasError) {
        try heap.copy(bytes, into: block, at: offset)
    }

    /// Shrinks the block in place to at least `newSize` bytes (see `JITHeap.shrink(_:to:)`).
    public func shrink(to newSize: Int) throws(PasError) {
        try heap.shrink(block, to: newSize)
    }

    /// Frees the block (see `JITHeap.deallocate(_:)`, whose cost it has) and ends the owner.
    /// If the heap refuses (`.reentrantWrite` inside a `.toggled` write scope, a region
    /// detached by fork), the block stays allocated and is leaked; a caller that must recover
    /// from such a failure copies `block` before the call and frees that copy later.
    public consuming func deallocate() throws(PasError) {
        try heap.deallocate(block)
    }

    /// Ends the owner without freeing the block and returns its handle: the caller manages
    /// the block by hand from here on. Free.
    public consuming func release() -> CodeBlock {
        block
    }
}
