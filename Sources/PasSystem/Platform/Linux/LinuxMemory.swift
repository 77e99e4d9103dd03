#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// Linux's page mapping calls: `mmap`, `munmap`, `mprotect`, `madvise`.
///
/// Raw and unchecked: every function does one system call (or none) and reports the kernel's
/// `errno`; `VirtualMemory`, `MemoryFile` and `DualMapping` add the checks and the typed errors.
/// Thread-safety: any thread (the kernel serialises changes to the address space).
enum PlatformMemory {
    /// The kernel's page size (`sysconf(_SC_PAGESIZE)`).
    static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// What the address given to `mapShared` means.
    enum AddressUse {
        /// A hint: the kernel may map elsewhere.
        case hint
        /// Exactly there, replacing whatever was mapped (`MAP_FIXED`).
        case replacing
        /// Exactly there, or `Errno.alreadyExists` if something is mapped there
        /// (`MAP_FIXED_NOREPLACE`; a kernel older than 4.17 takes it as a hint, so the caller
        /// checks the address it gets).
        case noReplace
    }

    /// Reserves `byteCount` bytes of address space: no access, private, anonymous, no swap
    /// reservation (`MAP_NORESERVE`). The kernel picks the address.
    static func reserve(byteCount: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let raw = mmap(nil, byteCount, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let raw, raw != MAP_FAILED else { throw .current }
        return raw
    }

    /// Maps the first `byteCount` bytes of the file `descriptor` shared, with `protection`.
    static func mapShared(
        descriptor: Int32, byteCount: Int, protection: Protection,
        at address: UnsafeMutableRawPointer?, use: AddressUse
    ) throws(Errno) -> UnsafeMutableRawPointer {
        let addressFlags: Int32
        switch use {
        case .hint: addressFlags = 0
        case .replacing: addressFlags = MAP_FIXED
        case .noReplace: addressFlags = MAP_FIXED_NOREPLACE
        }
        let raw = mmap(address, byteCount, protection.rawValue, MAP_SHARED | addressFlags, descriptor, 0)
        guard let raw, raw != MAP_FAILED else { throw .current }
        return raw
    }

    /// Unmaps `byteCount` bytes at `address`.
    static func unmap(_ address: UnsafeMutableRawPointer, byteCount: Int) throws(Errno) {
        if munmap(address, byteCount) != 0 { throw .current }
    }

    /// Gives `byteCount` bytes at `address` the access rights `protection`.
    static func protect(_ address: UnsafeMutableRawPointer, byteCount: Int, to protection: Protection) throws(Errno) {
        if mprotect(address, byteCount, protection.rawValue) != 0 { throw .current }
    }

    /// Drops the physical pages of private anonymous memory (`MADV_DONTNEED`); the range stays
    /// accessible and reads zero.
    static func discardPrivatePages(_ address: UnsafeMutableRawPointer, byteCount: Int) throws(Errno) {
        if madvise(address, byteCount, MADV_DONTNEED) != 0 { throw .current }
    }

    /// Frees the file pages behind a shared mapping of a memory file (`MADV_REMOVE`, a hole
    /// punched through the mapping); every mapping of those pages reads zero afterwards.
    static func discardSharedPages(_ address: UnsafeMutableRawPointer, byteCount: Int) throws(Errno) {
        if madvise(address, byteCount, MADV_REMOVE) != 0 { throw .current }
    }
}
#endif
