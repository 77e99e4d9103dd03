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
    /// allocated until pages are written. Cost: two system calls. Thread-safety: any thread.
    public init(name: String = "pas-code", byteCount: Int) throws(PasError) {
        let page = SystemInfo.pageSize
        guard byteCount > 0, byteCount % page == 0 else { throw .invalidSize(.memfdCreate, byteCount) }
        let fd: Int32
        do { fd = try PlatformMemoryFile.create(name: name) } catch { throw .system(.memfdCreate, errno: error.code) }
        do {
            try PlatformMemoryFile.truncate(fd, byteCount: byteCount)
        } catch {
            PlatformMemoryFile.close(fd)
            throw .system(.truncate, errno: error.code)
        }
        descriptor = fd
        self.byteCount = byteCount
    }

    deinit { PlatformMemoryFile.close(descriptor) }

    /// Frees the file's pages in `offset ..< offset + length` (page aligned). Every mapping of
    /// those pages reads zero afterwards and their memory is returned to the system.
    /// Cost: one system call.
    public func punchHole(offset: Int, length: Int) throws(PasError) {
        let page = SystemInfo.pageSize
        guard length > 0, length % page == 0, offset >= 0, offset % page == 0,
            offset <= byteCount, length <= byteCount - offset
        else {
            throw .invalidSize(.punchHole, length)
        }
        do {
            try PlatformMemoryFile.punchHole(descriptor, offset: offset, length: length)
        } catch {
            throw .system(.punchHole, errno: error.code)
        }
    }

    /// Bytes of memory the file holds now (from `fstat`'s block count). Cost: one system call.
    public func allocatedBytes() throws(PasError) -> Int {
        do { return try PlatformMemoryFile.allocatedBytes(descriptor) } catch { throw .system(.stat, errno: error.code) }
    }

    /// The byte ranges of the file that hold pages (data), in increasing order; everything else
    /// is a hole (never written, or punched) and reads zero. From `lseek(SEEK_DATA / SEEK_HOLE)`,
    /// so page granular. Cost: two system calls per extent. Thread-safety: any thread; a
    /// concurrent write or punch may or may not be seen.
    public func dataExtents() throws(PasError) -> [Range<Int>] {
        var extents: [Range<Int>] = []
        var offset = 0
        while offset < byteCount {
            let data: Int, hole: Int
            do {
                // No data from `offset` to the end: the copy is complete.
                guard let found = try PlatformMemoryFile.seek(descriptor, from: offset, hole: false) else { break }
                data = found
                // The end of the file counts as a hole.
                hole = try PlatformMemoryFile.seek(descriptor, from: data, hole: true) ?? byteCount
            } catch {
                throw .system(.seekData, errno: error.code)
            }
            let end = min(hole, byteCount)
            if end > data { extents.append(data ..< end) }
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
                let n: Int
                if kernelCopies {
                    guard
                        let copied = PlatformMemoryFile.copyRange(
                            from: descriptor, offset: offset, to: copy.descriptor,
                            offset: offset, length: length)
                    else {
                        kernelCopies = false
                        continue
                    }
                    n = copied
                } else {
                    // Invariant: `view` maps the whole file, so `view + offset ..< + length` is readable.
                    do {
                        n = try PlatformMemoryFile.write(copy.descriptor, from: view + offset, length: length, at: offset)
                    } catch {
                        throw .system(.copyFile, errno: error.code)
                    }
                }
                offset += n
            }
        }
        return copy
    }

    /// Maps the whole file shared with `protection`: exactly at `hint` (replacing what is
    /// mapped there) if `fixed`, else where the kernel chooses, `hint` being a hint.
    func map(protection: Protection, at hint: UnsafeMutableRawPointer?, fixed: Bool) throws(PasError) -> MemoryRange {
        do {
            let raw = try PlatformMemory.mapShared(
                descriptor: descriptor, byteCount: byteCount, protection: protection,
                at: hint, use: fixed ? .replacing : .hint)
            return MemoryRange(raw, byteCount: byteCount)
        } catch {
            throw .system(.mapView, errno: error.code)
        }
    }
}
