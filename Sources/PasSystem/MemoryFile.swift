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

    /// The byte ranges of the file that hold pages (data), in increasing order; everything else
    /// is a hole (never written, or punched) and reads zero. From `lseek(SEEK_DATA / SEEK_HOLE)`,
    /// so page granular. Cost: two system calls per extent. Thread-safety: any thread; a
    /// concurrent write or punch may or may not be seen.
    public func dataExtents() throws(PasError) -> [Range<Int>] {
        var extents: [Range<Int>] = []
        var offset = 0
        while offset < byteCount {
            let data = pas_shim_seek_data(descriptor, Int64(offset), false)
            if data < 0 {
                let e = Glibc.errno
                if e == ENXIO { break }  // no data from `offset` to the end
                throw .system(.seekData, errno: e)
            }
            let hole = pas_shim_seek_data(descriptor, data, true)
            guard hole >= 0 else { throw .system(.seekData, errno: Glibc.errno) }
            let end = min(Int(hole), byteCount)
            if end > Int(data) { extents.append(Int(data) ..< end) }
            offset = end
        }
        return extents
    }

    /// A new file of the same size holding the same bytes: each data extent is copied (with
    /// `copy_file_range`, or `pwrite` from `view` where the kernel cannot copy between the
    /// files), holes stay holes. `view` is a readable mapping of the whole file.
    /// Cost: a new memfd plus a copy of every data page (the file's resident size).
    /// Thread-safety: the copy is a snapshot only if nothing writes the file meanwhile.
    public func copy(readingFrom view: UnsafeRawPointer, name: String = "pas-code") throws(PasError) -> MemoryFile {
        let copy = try MemoryFile(name: name, byteCount: byteCount)
        for extent in try dataExtents() {
            var offset = extent.lowerBound
            var kernelCopies = true
            while offset < extent.upperBound {
                let length = extent.upperBound - offset
                var n: Int64 = -1
                if kernelCopies {
                    n = pas_shim_copy_file_range(descriptor, Int64(offset), copy.descriptor, Int64(offset), length)
                    if n <= 0 { kernelCopies = false; continue }
                } else {
                    // Invariant: `view` maps the whole file, so `view + offset ..< + length` is readable.
                    n = Int64(pwrite(copy.descriptor, view + offset, length, off_t(offset)))
                    if n < 0 && Glibc.errno == EINTR { continue }
                    guard n > 0 else { throw .system(.copyFile, errno: n < 0 ? Glibc.errno : EIO) }
                }
                offset += Int(n)
            }
        }
        return copy
    }

    /// Maps the whole file at a fresh address with `protection`, shared.
    func map(protection: Protection, at hint: UnsafeMutableRawPointer?, fixed: Bool) throws(PasError) -> MemoryRange {
        let flags = pas_shim_map_shared() | (fixed ? MAP_FIXED : 0)
        let raw = mmap(hint, byteCount, protection.rawValue, flags, descriptor, 0)
        guard let raw, raw != MAP_FAILED else { throw .system(.mapView, errno: Glibc.errno) }
        return MemoryRange(raw, byteCount: byteCount)
    }
}
