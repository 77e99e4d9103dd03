#if canImport(Glibc)
import Glibc
#endif
import CPasShim

/// An anonymous in-memory file (`memfd_create`, close-on-exec, and `MFD_NOEXEC_SEAL` where
/// the kernel has it: no execute bits, sealed, so the descriptor cannot be executed; mapping
/// it `PROT_EXEC` still works), the backing store of dual-mapped code regions. Its pages are allocated when first written through any
/// mapping and freed again by `punchHole`.
///
/// Owns its file descriptor; the descriptor is closed when the object goes away.
/// Thread-safety: `punchHole` and `allocatedBytes` may be called concurrently.
public final class MemoryFile: @unchecked Sendable {
    /// The file descriptor. Valid for the lifetime of this object.
    public let descriptor: Int32
    /// The file size in bytes.
    public let byteCount: Int

    /// Creates a file of `byteCount` bytes (a multiple of the page size). No memory is
    /// allocated until pages are written.
    public init(name: String = "pas-code", byteCount: Int) throws(PasError) {
        let page = SystemInfo.pageSize
        guard byteCount > 0, byteCount % page == 0 else { throw .invalidSize(.memfdCreate, byteCount) }
        let fd = pas_shim_memfd_create(name, false)
        guard fd >= 0 else { throw .system(.memfdCreate, errno: Glibc.errno) }
        guard ftruncate(fd, off_t(byteCount)) == 0 else {
            let e = Glibc.errno
            close(fd)
            throw .system(.truncate, errno: e)
        }
        descriptor = fd
        self.byteCount = byteCount
    }

    deinit { close(descriptor) }

    /// Frees the file's pages in `offset ..< offset + length` (page aligned). Every mapping of
    /// those pages reads zero afterwards and their memory is returned to the system.
    public func punchHole(offset: Int, length: Int) throws(PasError) {
        let page = SystemInfo.pageSize
        guard length > 0, length % page == 0, offset >= 0, offset % page == 0,
              offset <= byteCount, length <= byteCount - offset else {
            throw .invalidSize(.punchHole, length)
        }
        if pas_shim_punch_hole(descriptor, Int64(offset), Int64(length)) != 0 {
            throw .system(.punchHole, errno: Glibc.errno)
        }
    }

    /// Bytes of memory the file holds now (from `fstat`'s block count).
    public func allocatedBytes() throws(PasError) -> Int {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw .system(.stat, errno: Glibc.errno) }
        return Int(st.st_blocks) * 512
    }

    /// Maps the whole file at a fresh address with `protection`, shared.
    func map(protection: Protection, at hint: UnsafeMutableRawPointer?, fixed: Bool) throws(PasError) -> MemoryRange {
        let flags = pas_shim_map_shared() | (fixed ? MAP_FIXED : 0)
        let raw = mmap(hint, byteCount, protection.rawValue, flags, descriptor, 0)
        guard let raw, raw != MAP_FAILED else { throw .system(.mapView, errno: Glibc.errno) }
        return MemoryRange(raw, byteCount: byteCount)
    }
}
