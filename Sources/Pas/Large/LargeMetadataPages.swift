import PasSystem

/// Ordinary private pages for large-heap metadata (tree nodes, the large map).
///
/// The large heap may manage code memory, so none of its metadata lives in the chunks it
/// manages; it lives in pages mapped here, straight from `VirtualMemory`, never from the
/// Swift allocator. Cost: two or four system calls per call; used only when a metadata
/// table grows. Thread-safety: stateless.
enum LargeMetadataPages {
    /// Maps `byteCount` bytes (rounded up to the page size) of zeroed read-write memory.
    static func allocate(byteCount: Int) throws(PasError) -> MemoryRange {
        let page = SystemInfo.pageSize
        guard byteCount > 0, let size = Alignment.roundUp(byteCount, to: page) else {
            throw .invalidSize(.allocate, byteCount)
        }
        let range = try VirtualMemory.reserve(byteCount: size, alignment: page)
        do throws(PasError) {
            try VirtualMemory.commit(range, protection: .readWrite)
        } catch {
            try? VirtualMemory.release(range)
            throw error
        }
        return range
    }

    /// Unmaps a range that `allocate` returned.
    static func release(_ range: MemoryRange) {
        guard range.byteCount > 0 else { return }
        try? VirtualMemory.release(range)
    }
}
