import PasSystem

/// Memory for bitfit metadata (page entries, out-of-line headers, the page map, the fit
/// index), taken straight from the kernel with `VirtualMemory` so that it never lives in
/// chunk memory and never goes through `malloc`.
///
/// Regions are reserved and made read-write at once; private anonymous memory is backed
/// only when first touched, so a large reserved table costs address space, not RAM.
/// Every region reads zero when handed out. Thread-safety: stateless; any thread.
enum BitfitSideMemory {
    /// Bytes actually mapped for a request of `byteCount` (rounded to the system page).
    static func roundedSize(_ byteCount: Int) -> Int {
        Alignment.roundUp(max(byteCount, 1), to: SystemInfo.pageSize) ?? Int.max
    }

    /// Maps a zeroed read-write region of at least `byteCount` bytes. Cost: two system calls.
    static func allocate(byteCount: Int) throws(PasError) -> MemoryRange {
        let size = roundedSize(byteCount)
        guard size != Int.max else { throw .invalidSize(.reserve, byteCount) }
        let range = try VirtualMemory.reserve(byteCount: size, alignment: SystemInfo.pageSize)
        do {
            try VirtualMemory.commit(range, protection: .readWrite)
        } catch {
            try? VirtualMemory.release(range)
            throw error
        }
        return range
    }

    /// Unmaps a region returned by `allocate`.
    static func release(_ range: MemoryRange) {
        try? VirtualMemory.release(range)
    }
}
