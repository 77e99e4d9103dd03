import PasSystem

/// Ordinary private pages for allocator metadata (bitfit page entries, out-of-line headers,
/// page maps and fit indexes; large-heap tree nodes and maps), taken straight from the kernel
/// with `VirtualMemory`, so metadata never lives in the chunks a heap manages (which may be
/// code memory) and never goes through `malloc` (which Pas may itself be serving).
///
/// Regions are reserved and made read-write at once; private anonymous memory is backed only
/// when first touched, so a large reserved table costs address space, not RAM. Every region
/// reads zero when handed out. Cost: two system calls per call (three if committing fails);
/// used only when a table is created or grows. Thread-safety: stateless; any thread.
enum MetadataPages {
    /// Bytes actually mapped for a request of `byteCount` (rounded to the system page).
    static func roundedSize(_ byteCount: Int) -> Int {
        Alignment.roundUp(max(byteCount, 1), to: SystemInfo.pageSize) ?? Int.max
    }

    /// Maps a zeroed read-write region of at least `byteCount` bytes.
    /// Throws `.invalidSize(.allocate, byteCount)` for a size that is not positive or overflows.
    static func allocate(byteCount: Int) throws(PasError) -> MemoryRange {
        let size = roundedSize(byteCount)
        guard byteCount > 0, size != Int.max else { throw .invalidSize(.allocate, byteCount) }
        let range = try VirtualMemory.reserve(byteCount: size, alignment: SystemInfo.pageSize)
        do throws(PasError) {
            try VirtualMemory.commit(range, protection: .readWrite)
        } catch {
            try? VirtualMemory.release(range)
            throw error
        }
        return range
    }

    /// Unmaps a region returned by `allocate`.
    static func release(_ range: MemoryRange) {
        guard range.byteCount > 0 else { return }
        try? VirtualMemory.release(range)
    }
}
