/// Where compiled code is installed: an executable-memory allocator.
///
/// Implementations must never map an address writable and executable at once: `install`
/// writes through the allocator's write path and returns the executable address after
/// flushing the instruction cache. Errors thrown here propagate unchanged out of `Engine`.
public protocol CodeMemory: AnyObject {
    /// Allocates `size` bytes of executable memory, copies `bytes` into it through the allocator's write path, flushes the icache; returns the executable address.
    func install(_ bytes: [UInt8], alignment: Int) throws -> UInt
    /// Releases installed code.
    func release(_ address: UInt) throws
    /// Shrinks a block in place (used after emitting into an over-sized block)
    func shrink(_ address: UInt, to size: Int) throws
}
