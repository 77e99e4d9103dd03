/// One memory file mapped twice: an executable view (read + execute) where code runs and a
/// writable view (read + write) where it is written, at unrelated addresses. No address is
/// ever both writable and executable.
///
/// Security model: the writable view stays writable for the mapping's whole lifetime; nothing
/// opens or closes it around writes. What keeps an attacker who can write memory from
/// planting code is only that they do not know where the writable view is: it is placed at a
/// random page of most of the address space (`writablePlacement`; about 35 bits of entropy on
/// x86-64), independent of the executable view. An attacker who can read memory can find it
/// (its address is in this object), so this defends against blind writes, not against an
/// arbitrary read-then-write.
///
/// Owns both views and the file; they are unmapped when the object goes away. Addresses
/// translate between the views by a constant offset.
/// Thread-safety: immutable after creation except for `adoptFile` (a fork child's handler, on
/// the child's only thread); `decommit` may be called concurrently on disjoint ranges.
///
/// Fork: both views are shared mappings of one file, so a forked child would write (and punch)
/// its parent's pages. `copyFile()` (in the prepare handler) and `adoptFile(_:holeProtection:)`
/// (in the child) give the child a private copy at the same addresses.
public final class DualMapping: @unchecked Sendable {
    /// The backing file. Replaced only by `adoptFile` (in a fork child, single-threaded).
    public private(set) var file: MemoryFile
    /// The read + execute view.
    public let executable: MemoryRange
    /// The read + write view.
    public let writable: MemoryRange
    /// How the writable view was placed: at a random address, or (with the reason) where the
    /// kernel chose because no random placement worked.
    public let writablePlacement: Placement

    /// Creates a file of `byteCount` bytes (rounded up to pages) and maps it twice. The
    /// writable view is placed at a random address (`MAP_FIXED_NOREPLACE`, a few attempts),
    /// or where the kernel chooses if that fails (see `writablePlacement`), so neither its
    /// address nor its distance from the executable view is predictable.
    /// The executable view starts at a multiple of `alignment` (a power of two; default the page size).
    /// Cost: a memfd, a reservation and one `mmap` per view (plus retries of the random
    /// placement). Thread-safety: any thread.
    public init(byteCount: Int, alignment: Int = SystemInfo.pageSize, name: String = "pas-code") throws(PasError) {
        let page = SystemInfo.pageSize
        guard byteCount > 0, let size = Alignment.roundUp(byteCount, to: page) else {
            throw .invalidSize(.reserve, byteCount)
        }
        guard Alignment.isPowerOfTwo(alignment) else { throw .invalidAlignment(.reserve, alignment) }
        let file = try MemoryFile(name: name, byteCount: size)
        // Reserve an aligned range first, then map the executable view over it.
        let slot = try VirtualMemory.reserve(byteCount: size, alignment: alignment)
        let exec: MemoryRange
        do {
            exec = try file.map(protection: .readExecute, at: slot.pointer, fixed: true)
        } catch {
            try? VirtualMemory.release(slot)
            throw error
        }
        let rw: MemoryRange
        let placement: Placement
        do {
            (rw, placement) = try Self.mapWritableView(of: file)
        } catch {
            try? VirtualMemory.release(exec)
            // No room for the second view is the address space running out, as for the first.
            if error.errno == Errno.outOfMemory.code { throw .outOfMemory(.reserve, requested: size) }
            throw error
        }
        self.file = file
        self.executable = exec
        self.writable = rw
        self.writablePlacement = placement
    }

    deinit {
        try? VirtualMemory.release(executable)
        try? VirtualMemory.release(writable)
    }

    /// Size of each view in bytes. Thread-safety: any thread.
    @inlinable public var byteCount: Int { executable.byteCount }

    /// The writable alias of an executable address inside the mapping: one addition, no check.
    /// Thread-safety: any thread.
    @inlinable @inline(__always)
    public func writableAddress(of executableAddress: UInt) -> UInt {
        executableAddress &- executable.start &+ writable.start
    }

    /// A copy of the backing file (data pages copied, holes kept), read through the writable
    /// view where the kernel cannot copy between files. For a fork prepare handler: the caller
    /// keeps every writer of the file out meanwhile, or accepts that concurrent writes may be
    /// half-copied. Cost: a memfd and a copy of the resident pages.
    public func copyFile() throws(PasError) -> MemoryFile {
        try file.copy(readingFrom: UnsafeRawPointer(writable.pointer), name: "pas-jit-fork")
    }

    /// Maps `newFile` (same size, from `copyFile()`) over both views at their addresses, with
    /// their protections (executable view RX, writable view RW), then gives the executable
    /// view `holeProtection` over every hole of `newFile`; from then on this mapping is backed
    /// by `newFile` only. For a fork child's handler (the process's only thread): the old file
    /// is closed when nothing else holds it, so the child no longer shares a page with its
    /// parent. Throws the failed `mmap`/`mprotect`; after a failure the views may be backed by
    /// either file and must not be used.
    public func adoptFile(_ newFile: MemoryFile, holeProtection: Protection) throws(PasError) {
        guard newFile.byteCount == file.byteCount else { throw .invalidSize(.mapView, newFile.byteCount) }
        _ = try newFile.map(protection: .readExecute, at: executable.pointer, fixed: true)
        _ = try newFile.map(protection: .readWrite, at: writable.pointer, fixed: true)
        file = newFile
        guard holeProtection != .readExecute else { return }
        var offset = 0
        for extent in try newFile.dataExtents() + [newFile.byteCount ..< newFile.byteCount] {
            if extent.lowerBound > offset {
                try VirtualMemory.protect(
                    executable.slice(offset: offset, byteCount: extent.lowerBound - offset),
                    to: holeProtection)
            }
            offset = extent.upperBound
        }
    }

    /// Frees the memory behind `range` (executable coordinates, page aligned) for both
    /// views by punching a hole in the file. Both views read zero there afterwards.
    /// Cost: one system call. Thread-safety: any thread, on ranges no other thread uses.
    public func decommit(_ range: MemoryRange) throws(PasError) {
        guard executable.contains(range) else {
            throw .outsideReservation(.decommit, address: range.start, byteCount: range.byteCount)
        }
        try file.punchHole(offset: Int(range.start - executable.start), length: range.byteCount)
    }
}
