#if canImport(Glibc)
import Glibc
#endif
import PasSystem
import Pas
import CPasShim

/// A range of executable memory the JIT heap allocates code from, with the means to write it.
///
/// Created by the heap (`reserve`) or handed to it by a runtime (`JITHeap.addFreshMemory`).
/// Immutable after creation apart from `toggleLock`. Owns its mapping only when `ownsMapping`.
public final class CodeRegion: @unchecked Sendable {
    /// How writes reach this region.
    public let mode: ProtectionMode
    /// Where code runs.
    public let executable: MemoryRange
    /// Distance from an executable address to its writable alias (0 unless dual mapped).
    public let writeOffset: UInt
    /// True if the region's backing can be released by punching the memory file.
    let mapping: DualMapping?
    let ownsMapping: Bool

    /// True in a forked child for a dual-mapped region whose file Pas could not copy (a
    /// runtime's own mapping, or a copy that failed): both processes still map its pages, so
    /// the child must not write, free, allocate in or decommit it. Set only by the fork child
    /// handler (the process's only thread), never cleared.
    var detachedByFork = false

    /// Protection of the executable view over a page that holds no data in the code file
    /// (never written, or punched by a decommit), applied to every hole when a fork child maps
    /// its copy of the file (`DualMapping.adoptFile`). Such pages re-commit on first touch
    /// through the writable view, so they stay readable and executable.
    static let executableHoleProtection: Protection = .readExecute

    /// The error for an operation on a region detached by fork.
    static func detachedError(_ operation: PasOperation, region: CodeRegion) -> PasError {
        .unsupported(operation, reason: "code region at 0x\(String(region.executable.start, radix: 16)) is a dual mapping "
            + "the runtime provided, shared with the parent process since fork(); the child cannot write, free, "
            + "allocate in or decommit it")
    }

    /// Serialises write scopes in `.toggled` mode: a scope switches whole pages to RW and back,
    /// so two scopes on one page must not interleave. Never held in other modes. Taken with a
    /// sub-heap's lock held (install and fill write under it), never with `CodeChunkSource`'s
    /// lock; nothing is taken while it is held (fork stage `leaf`).
    let toggleLock = FutexLock()

    init(mode: ProtectionMode, executable: MemoryRange, writeOffset: UInt, mapping: DualMapping?, ownsMapping: Bool) {
        self.mode = mode
        self.executable = executable
        self.writeOffset = writeOffset
        self.mapping = mapping
        self.ownsMapping = ownsMapping
    }

    deinit {
        // Dual mappings unmap themselves; single mappings we created are unmapped here.
        if ownsMapping, mapping == nil { munmap(executable.pointer, executable.byteCount) }
    }

    /// Regions start on this boundary so that the bitfit heaps' chunks (aligned to their own
    /// size, up to 1 MiB) and the large heap's 2 MiB chunks pack without slack.
    static let regionAlignment = 2 << 20

    /// Reserves a fresh region of `byteCount` bytes in `mode`.
    static func reserve(byteCount: Int, mode: ProtectionMode) throws(PasError) -> CodeRegion {
        switch mode {
        case .dualMapped:
            let m = try DualMapping(byteCount: byteCount, alignment: regionAlignment, name: "pas-jit")
            return CodeRegion(mode: mode, executable: m.executable, writeOffset: m.writable.start &- m.executable.start,
                              mapping: m, ownsMapping: true)
        case .rwx, .toggled:
            let r = try VirtualMemory.reserve(byteCount: byteCount, alignment: regionAlignment)
            let protection: Protection = mode == .rwx ? .readWriteExecute : .readExecute
            do {
                try VirtualMemory.protect(r, to: protection)
            } catch {
                try? VirtualMemory.release(r)
                throw error
            }
            return CodeRegion(mode: mode, executable: r, writeOffset: 0, mapping: nil, ownsMapping: true)
        }
    }

    /// Gives the physical memory behind `range` back. Dual-mapped regions punch a hole in the
    /// file (both views read zero afterwards); others drop the private pages.
    func decommit(_ range: MemoryRange) throws(PasError) {
        if detachedByFork { throw Self.detachedError(.decommit, region: self) }
        if let mapping {
            try mapping.decommit(range)
        } else if mode == .dualMapped {
            // A runtime-provided dual mapping: free the shared pages through the writable view.
            let alias = MemoryRange(start: range.start &+ writeOffset, byteCount: range.byteCount)
            if madvise(alias.pointer, alias.byteCount, pas_shim_madv_remove()) != 0 {
                throw .system(.decommit, errno: Glibc.errno)
            }
        } else {
            try VirtualMemory.decommit(range)
        }
    }

    /// Opens write access to `range` (already validated to lie in this region).
    @inline(__always)
    func beginWrite(_ range: MemoryRange) throws(PasError) {
        guard mode == .toggled else { return }
        toggleLock.lock()
        do {
            try VirtualMemory.protect(pageSpan(of: range), to: .readWrite)
        } catch {
            toggleLock.unlock()
            throw error
        }
    }

    /// Closes write access and makes the new instructions visible to instruction fetch.
    @inline(__always)
    func endWrite(_ range: MemoryRange) throws(PasError) {
        if mode == .toggled {
            defer { toggleLock.unlock() }
            try VirtualMemory.protect(pageSpan(of: range), to: .readExecute)
        }
        pas_shim_flush_icache(range.pointer, range.pointer + range.byteCount)
    }

    /// The whole pages that cover `range`.
    func pageSpan(of range: MemoryRange) -> MemoryRange {
        let page = SystemInfo.pageSize
        let start = Alignment.roundDown(range.start, to: page)
        let end = Alignment.roundUp(range.end, to: page)
        return MemoryRange(start: start, byteCount: Int(end - start))
    }
}
