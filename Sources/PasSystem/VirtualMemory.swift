#if canImport(Glibc)
import Glibc
#endif
import CPasShim

/// Thin wrappers over the memory system calls. They check nothing beyond what the
/// kernel checks; `SystemPageSource` adds reservation bookkeeping on top.
///
/// Thread-safety: every function is safe to call from any thread (the kernel serialises
/// changes to the address space).
public enum VirtualMemory {
    /// Reserves `byteCount` bytes of address space with no access and no swap reservation,
    /// aligned to `alignment` (a power of two, at least the page size).
    /// Cost: one or three system calls.
    public static func reserve(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        let page = SystemInfo.pageSize
        let align = max(alignment, page)
        let extra = align > page ? align : 0
        guard let total = Alignment.roundUp(byteCount, to: page).flatMap({ $0.addingReportingOverflow(extra).overflow ? nil : $0 + extra }),
              total > 0 else {
            throw .invalidSize(.reserve, byteCount)
        }
        let raw = mmap(nil, total, PROT_NONE, pas_shim_map_reserve_flags(), -1, 0)
        guard let raw, raw != MAP_FAILED else { throw .system(.reserve, errno: Glibc.errno) }
        let base = UInt(bitPattern: raw)
        let aligned = Alignment.roundUp(base, to: align)
        let size = Alignment.roundUp(byteCount, to: page)!
        // Trim the slack on both sides so that only the aligned range stays mapped.
        if aligned > base { munmap(raw, Int(aligned - base)) }
        let tail = base + UInt(total) - (aligned + UInt(size))
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(size)), Int(tail)) }
        return MemoryRange(start: aligned, byteCount: size)
    }

    /// Gives the range `protection`. On Linux an accessible private page is backed lazily
    /// by the first touch; committing is making it accessible.
    public static func commit(_ range: MemoryRange, protection: Protection) throws(PasError) {
        if mprotect(range.pointer, range.byteCount, protection.rawValue) != 0 {
            throw .system(.commit, errno: Glibc.errno)
        }
    }

    /// Returns the physical pages of a private anonymous range to the kernel
    /// (`MADV_DONTNEED`). The range stays accessible and reads as zero afterwards.
    public static func decommit(_ range: MemoryRange) throws(PasError) {
        if madvise(range.pointer, range.byteCount, pas_shim_madv_dontneed()) != 0 {
            throw .system(.decommit, errno: Glibc.errno)
        }
    }

    /// Changes the access rights of the range.
    public static func protect(_ range: MemoryRange, to protection: Protection) throws(PasError) {
        if mprotect(range.pointer, range.byteCount, protection.rawValue) != 0 {
            throw .system(.protect, errno: Glibc.errno)
        }
    }

    /// Unmaps the range.
    public static func release(_ range: MemoryRange) throws(PasError) {
        if munmap(range.pointer, range.byteCount) != 0 {
            throw .system(.release, errno: Glibc.errno)
        }
    }
}
