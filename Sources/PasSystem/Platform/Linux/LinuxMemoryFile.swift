#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc
import CPasShim

/// Linux's calls on an anonymous memory file: `memfd_create`, `ftruncate`, `fallocate`,
/// `fstat`, `lseek(SEEK_DATA/SEEK_HOLE)`, `copy_file_range`, `pwrite`, `close`.
///
/// Raw: one system call per function (`write` retries on `EINTR`); `MemoryFile` adds the
/// checks and the typed errors. Thread-safety: any thread.
enum PlatformMemoryFile {
    /// A new, empty anonymous memory file, close-on-exec, sealed against execution
    /// (`MFD_NOEXEC_SEAL`) where the kernel has it. Returns its descriptor.
    static func create(name: String) throws(Errno) -> Int32 {
        let fd = pas_shim_memfd_create(name)
        guard fd >= 0 else { throw .current }
        return fd
    }

    /// Sets the file's size to `byteCount` bytes (`ftruncate`).
    static func truncate(_ descriptor: Int32, byteCount: Int) throws(Errno) {
        if ftruncate(descriptor, off_t(byteCount)) != 0 { throw .current }
    }

    /// Closes the descriptor.
    static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    /// Frees the file's pages in `offset ..< offset + length`, keeping the size
    /// (`fallocate(PUNCH_HOLE | KEEP_SIZE)`).
    static func punchHole(_ descriptor: Int32, offset: Int, length: Int) throws(Errno) {
        if pas_shim_punch_hole(descriptor, Int64(offset), Int64(length)) != 0 { throw .current }
    }

    /// Bytes of memory the file holds (`fstat`'s block count times 512).
    static func allocatedBytes(_ descriptor: Int32) throws(Errno) -> Int {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw .current }
        return Int(st.st_blocks) * 512
    }

    /// The first offset at or after `offset` that holds data (`hole` false) or is a hole
    /// (`hole` true), or nil if there is no data from `offset` to the end (`ENXIO`).
    static func seek(_ descriptor: Int32, from offset: Int, hole: Bool) throws(Errno) -> Int? {
        let result = pas_shim_seek_data(descriptor, Int64(offset), hole)
        if result < 0 {
            let e = Errno.current
            if e.code == ENXIO { return nil }
            throw e
        }
        return Int(result)
    }

    /// Copies up to `length` bytes between the files at the given offsets in the kernel
    /// (`copy_file_range`). Returns the bytes copied, or nil if the kernel copied nothing
    /// (unsupported between these files, or an error): the caller then copies another way.
    static func copyRange(
        from source: Int32, offset sourceOffset: Int, to destination: Int32, offset destinationOffset: Int,
        length: Int
    ) -> Int? {
        let n = pas_shim_copy_file_range(source, Int64(sourceOffset), destination, Int64(destinationOffset), length)
        return n > 0 ? Int(n) : nil
    }

    /// Writes up to `length` bytes from `bytes` at `offset` of the file (`pwrite`, retried on
    /// `EINTR`). Returns the bytes written, at least one; no progress is `Errno.inputOutput`.
    static func write(_ descriptor: Int32, from bytes: UnsafeRawPointer, length: Int, at offset: Int) throws(Errno) -> Int {
        while true {
            let n = pwrite(descriptor, bytes, length, off_t(offset))
            if n > 0 { return n }
            if n == 0 { throw .inputOutput }
            let e = Errno.current
            if e.code != EINTR { throw e }
        }
    }
}
#endif
