/// Thin wrappers over the memory system calls. They check nothing beyond what the
/// kernel checks; `SystemPageSource` adds reservation bookkeeping on top.
///
/// Thread-safety: every function is safe to call from any thread (the kernel serialises
/// changes to the address space).
public enum VirtualMemory {
    /// Reserves `byteCount` bytes of address space with no access and no swap reservation,
    /// aligned to `alignment` (a power of two, at least the page size).
    /// Throws `.outOfMemory(.reserve, requested: byteCount)` when the address space cannot
    /// hold it (ENOMEM: an address-space limit such as `ulimit -v`, or no hole that large),
    /// `.system(.reserve, errno:)` for any other refusal. Never reserves less than asked.
    /// Cost: one or three system calls.
    public static func reserve(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        let page = SystemInfo.pageSize
        let align = max(alignment, page)
        let extra = align > page ? align : 0
        guard
            let total = Alignment.roundUp(byteCount, to: page).flatMap({
                $0.addingReportingOverflow(extra).overflow ? nil : $0 + extra
            }),
            total > 0
        else {
            throw .invalidSize(.reserve, byteCount)
        }
        let raw: UnsafeMutableRawPointer
        do {
            raw = try PlatformMemory.reserve(byteCount: total)
        } catch {
            if error == .outOfMemory { throw .outOfMemory(.reserve, requested: byteCount) }
            throw .system(.reserve, errno: error.code)
        }
        let base = UInt(bitPattern: raw)
        let aligned = Alignment.roundUp(base, to: align)
        let size = Alignment.roundUp(byteCount, to: page)!
        // Trim the slack on both sides so that only the aligned range stays mapped.
        // Invariant: both pieces lie inside the mapping just made, which nothing else knows yet.
        if aligned > base { try? PlatformMemory.unmap(raw, byteCount: Int(aligned - base)) }
        let tail = base + UInt(total) - (aligned + UInt(size))
        if tail > 0 {
            try? PlatformMemory.unmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(size))!, byteCount: Int(tail))
        }
        return MemoryRange(start: aligned, byteCount: size)
    }

    /// The largest multiple of `granule` (a power of two, at least the page size) from
    /// `granule` up to `byteCount` that can be reserved now at `alignment`, or 0 if not even
    /// `granule` can. Probes by reserving and releasing: halves from `byteCount` until a size
    /// fits, then bisects between it and the last size that did not. The answer is a snapshot:
    /// other threads' mappings may change it at once. Cost: O(log(byteCount / granule))
    /// reserve/release pairs. Thread-safe.
    public static func largestReservable(upTo byteCount: Int, granule: Int, alignment: Int) -> Int {
        func fits(_ size: Int) -> Bool {
            guard let range = try? reserve(byteCount: size, alignment: alignment) else { return false }
            try? release(range)
            return true
        }
        var high = byteCount - byteCount % granule
        guard high >= granule else { return 0 }
        if fits(high) { return high }
        var low = high / 2 - (high / 2) % granule
        while low >= granule, !fits(low) {
            high = low
            low = low / 2 - (low / 2) % granule
        }
        guard low >= granule else { return 0 }
        // Invariant: `low` fits, `high` does not, both multiples of `granule`.
        while high - low > granule {
            let middle = low + ((high - low) / 2 / granule) * granule
            if fits(middle) { low = middle } else { high = middle }
        }
        return low
    }

    /// Gives the range `protection`. On Linux an accessible private page is backed lazily
    /// by the first touch; committing is making it accessible. Cost: one system call.
    public static func commit(_ range: MemoryRange, protection: Protection) throws(PasError) {
        do {
            try PlatformMemory.protect(range.pointer, byteCount: range.byteCount, to: protection)
        } catch {
            throw .system(.commit, errno: error.code)
        }
    }

    /// Returns the physical pages of a private anonymous range to the kernel
    /// (`MADV_DONTNEED`). The range stays accessible and reads as zero afterwards.
    /// Cost: one system call plus the TLB shootdown.
    public static func decommit(_ range: MemoryRange) throws(PasError) {
        do {
            try PlatformMemory.discardPrivatePages(range.pointer, byteCount: range.byteCount)
        } catch {
            throw .system(.decommit, errno: error.code)
        }
    }

    /// Returns the pages of a memory file behind `range`, a shared mapping of that file, to the
    /// kernel (`MADV_REMOVE`: a hole punched through the mapping). Every mapping of those pages
    /// reads zero afterwards. For shared mappings whose file Pas does not hold (a runtime's
    /// own dual mapping); `decommit` would only drop this mapping's view of the pages.
    /// Cost: one system call.
    public static func decommitShared(_ range: MemoryRange) throws(PasError) {
        do {
            try PlatformMemory.discardSharedPages(range.pointer, byteCount: range.byteCount)
        } catch {
            throw .system(.decommit, errno: error.code)
        }
    }

    /// Changes the access rights of the range. Cost: one system call.
    public static func protect(_ range: MemoryRange, to protection: Protection) throws(PasError) {
        do {
            try PlatformMemory.protect(range.pointer, byteCount: range.byteCount, to: protection)
        } catch {
            throw .system(.protect, errno: error.code)
        }
    }

    /// Unmaps the range. Cost: one system call.
    public static func release(_ range: MemoryRange) throws(PasError) {
        do {
            try PlatformMemory.unmap(range.pointer, byteCount: range.byteCount)
        } catch {
            throw .system(.release, errno: error.code)
        }
    }
}
