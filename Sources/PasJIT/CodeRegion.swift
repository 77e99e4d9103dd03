import PasSystem
import Pas
import Synchronization

/// A range of executable memory the JIT heap allocates code from, with the means to write it.
///
/// Created by the heap (`reserve`) or handed to it by a runtime (`JITHeap.addFreshMemory`).
/// Immutable after creation apart from the write-scope state. Owns its mapping only when
/// `ownsMapping`.
///
/// Invariant (enforced by `commit`, `decommit`, `reserve` and `makeUncommitted`, relied on by
/// fork support, which re-applies `PROT_NONE` to the holes of the code file after remapping
/// the views in a child): a page of the executable view is accessible if and only if it is
/// committed, and a committed page of a dual mapping always has data in the memory file (it
/// was filled with the trap pattern through the writable view before it became executable).
/// So a call into a page that was never committed or has been decommitted faults, and a call
/// into a committed page that holds no live code hits a trap instruction; a stale call never
/// slides through zero bytes (`add %al,(%rax)` on x86-64) into the code that follows.
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
    /// (never committed, or punched by a decommit), applied to every hole when a fork child
    /// maps its copy of the file (`DualMapping.adoptFile`). A committed page always holds data
    /// (commit fills it with traps), so a hole is exactly an uncommitted page, which is
    /// inaccessible in the executable view (see the invariant above).
    static let executableHoleProtection: Protection = .none

    /// The error for an operation on a region detached by fork.
    static func detachedError(_ operation: PasOperation, region: CodeRegion) -> PasError {
        .unsupported(
            operation,
            reason: "code region at 0x\(String(region.executable.start, radix: 16)) is a dual mapping "
                + "the runtime provided, shared with the parent process since fork(); the child cannot write, free, "
                + "allocate in or decommit it")
    }

    /// Serialises write scopes in `.toggled` mode: a scope switches the pages of one block to
    /// RW and back. Never held in other modes. Lock order: taken after a sub-heap's lock (fills
    /// run under it) and after no other JIT lock; nothing is taken while it is held. A write
    /// body that calls back into the heap would invert that order, so the heap refuses such
    /// calls (`.reentrantWrite`, see `writeOwner`). Fork stage `leaf`.
    let toggleLock = FutexLock()
    /// The thread holding `toggleLock` (its `SystemThread.currentID`), or 0. Written by that thread
    /// right after taking the lock and before releasing it; read by any thread, which only
    /// compares it with its own id (a thread always sees its own writes).
    let writeOwner = Atomic<UInt>(0)
    /// The start of the range the open write scope covers (for the error text).
    let writeScopeStart = Atomic<UInt>(0)

    init(mode: ProtectionMode, executable: MemoryRange, writeOffset: UInt, mapping: DualMapping?, ownsMapping: Bool) {
        self.mode = mode
        self.executable = executable
        self.writeOffset = writeOffset
        self.mapping = mapping
        self.ownsMapping = ownsMapping
    }

    deinit {
        // Dual mappings unmap themselves; single mappings we created are unmapped here.
        if ownsMapping, mapping == nil { try? VirtualMemory.release(executable) }
    }

    /// Regions start on this boundary so that the bitfit heaps' chunks (aligned to their own
    /// size, up to 1 MiB) and the large heap's 2 MiB chunks pack without slack.
    static let regionAlignment = 2 << 20

    /// The protection of a committed page of the executable view.
    var committedProtection: Protection { mode == .rwx ? .readWriteExecute : .readExecute }

    /// Reserves a fresh region of `byteCount` bytes in `mode`, with no page committed: the
    /// executable view is inaccessible until `commit`.
    static func reserve(byteCount: Int, mode: ProtectionMode) throws(PasError) -> CodeRegion {
        switch mode {
        case .dualMapped:
            let m = try DualMapping(byteCount: byteCount, alignment: regionAlignment, name: "pas-jit")
            // The file is all holes: nothing is committed yet.
            try VirtualMemory.protect(m.executable, to: .none)
            return CodeRegion(
                mode: mode, executable: m.executable, writeOffset: m.writable.start &- m.executable.start,
                mapping: m, ownsMapping: true)
        case .rwx, .toggled:
            // A reservation is inaccessible already.
            let r = try VirtualMemory.reserve(byteCount: byteCount, alignment: regionAlignment)
            return CodeRegion(mode: mode, executable: r, writeOffset: 0, mapping: nil, ownsMapping: true)
        }
    }

    /// Makes the whole executable range inaccessible: the state of memory a runtime hands
    /// over, before any of it is committed.
    func makeUncommitted() throws(PasError) {
        try VirtualMemory.protect(executable, to: .none)
    }

    /// Commits `range` (page aligned, inside the region, holding no live code): fills it with
    /// `word` through the write path (which gives a dual mapping's file data there), then
    /// makes it executable. Slow path: two or three system calls plus the fill.
    /// Needs no lock: no other thread reads, writes or runs these pages until the caller
    /// hands them out.
    /// On a failure the range is left inaccessible (still uncommitted) and the error is thrown.
    func commit(_ range: MemoryRange, fill word: UInt32) throws(PasError) {
        if detachedByFork { throw Self.detachedError(.commit, region: self) }
        do throws(PasError) {
            switch mode {
            case .dualMapped:
                // Invariant: the writable alias covers the same bytes and is always writable.
                CodeRegion.store(
                    word, at: UnsafeMutableRawPointer(bitPattern: range.start &+ writeOffset)!, byteCount: range.byteCount)
            case .rwx, .toggled:
                // Writable but not yet executable while it still reads zero.
                try VirtualMemory.commit(range, protection: .readWrite)
                CodeRegion.store(word, at: range.pointer, byteCount: range.byteCount)
            }
            try VirtualMemory.commit(range, protection: committedProtection)
        } catch {
            try? VirtualMemory.protect(range, to: .none)
            throw error
        }
        InstructionCache.flush(range)
    }

    /// Gives the physical memory behind `range` back and makes it inaccessible (in that
    /// order of effect: inaccessible first, so no call ever runs the zeros left behind).
    /// Dual-mapped regions punch a hole in the file; others drop the private pages. If the
    /// release fails the pages are made accessible again (they stay committed) and the error
    /// is thrown.
    func decommit(_ range: MemoryRange) throws(PasError) {
        if detachedByFork { throw Self.detachedError(.decommit, region: self) }
        try VirtualMemory.protect(range, to: .none)
        do throws(PasError) {
            if let mapping {
                try mapping.decommit(range)
            } else if mode == .dualMapped {
                // A runtime-provided dual mapping: free the shared pages through the writable view.
                let alias = MemoryRange(start: range.start &+ writeOffset, byteCount: range.byteCount)
                try VirtualMemory.decommitShared(alias)
            } else {
                try VirtualMemory.decommit(range)
            }
        } catch {
            try? VirtualMemory.protect(range, to: committedProtection)
            throw error
        }
    }

    /// The calling thread's id, as recorded in `writeOwner`.
    @inline(__always)
    static var currentThread: UInt { SystemThread.currentID }

    /// The start of the write scope the calling thread holds open on this region, or nil.
    @inline(__always)
    func openWriteScopeOfCurrentThread() -> UInt? {
        guard mode == .toggled, writeOwner.load(ordering: .relaxed) == CodeRegion.currentThread else { return nil }
        return writeScopeStart.load(ordering: .relaxed)
    }

    /// Opens write access to `range` (already validated to lie in this region).
    /// Throws `.reentrantWrite(.write, …)` if the calling thread already holds a write scope here.
    @inline(__always)
    func beginWrite(_ range: MemoryRange) throws(PasError) {
        guard mode == .toggled else { return }
        if let open = openWriteScopeOfCurrentThread() { throw .reentrantWrite(.write, address: open) }
        toggleLock.lock()
        writeOwner.store(CodeRegion.currentThread, ordering: .relaxed)
        writeScopeStart.store(range.start, ordering: .relaxed)
        do {
            try VirtualMemory.protect(pageSpan(of: range), to: .readWrite)
        } catch {
            writeOwner.store(0, ordering: .relaxed)
            toggleLock.unlock()
            throw error
        }
    }

    /// Closes write access and makes the new instructions visible to instruction fetch.
    @inline(__always)
    func endWrite(_ range: MemoryRange) throws(PasError) {
        if mode == .toggled {
            defer {
                writeOwner.store(0, ordering: .relaxed)
                toggleLock.unlock()
            }
            try VirtualMemory.protect(pageSpan(of: range), to: .readExecute)
        }
        InstructionCache.flush(range)
    }

    /// The whole pages that cover `range`.
    func pageSpan(of range: MemoryRange) -> MemoryRange {
        let page = SystemInfo.pageSize
        let start = Alignment.roundDown(range.start, to: page)
        let end = Alignment.roundUp(range.end, to: page)
        return MemoryRange(start: start, byteCount: Int(end - start))
    }

    /// Stores the 4-byte `word` over `byteCount` bytes at `base` (a multiple of 4 bytes long
    /// and 4-byte aligned, as blocks and pages are).
    @inline(__always)
    static func store(_ word: UInt32, at base: UnsafeMutableRawPointer, byteCount: Int) {
        if word == UInt32(truncatingIfNeeded: word & 0xFF) &* 0x0101_0101 {
            // One repeated byte (int3, or a byte pattern): compiled to memset, which runs at
            // memory bandwidth.
            base.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: word), count: byteCount)
        } else {
            // A 4-byte instruction (brk): blocks are granule-aligned, so whole words fit.
            let wide = UInt64(word) | UInt64(word) << 32
            var i = 0
            while i &+ 8 <= byteCount { base.storeBytes(of: wide, toByteOffset: i, as: UInt64.self); i &+= 8 }
            while i &+ 4 <= byteCount { base.storeBytes(of: word, toByteOffset: i, as: UInt32.self); i &+= 4 }
        }
    }
}
