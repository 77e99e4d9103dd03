import Testing
import PasJIT
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The four code-memory hazards of issue 13: writes in one block stopping another block
/// (toggled mode), stale calls into freed code that do not trap, racing frees overwriting
/// fresh code, and write bodies that re-enter the heap.
@Suite struct CodeMemorySafetyTests {
    let page = SystemInfo.pageSize

    // MARK: Toggled mode: one block per page

    /// In toggled mode a thread keeps calling one block while another installs, writes,
    /// shrinks and frees other blocks: the running block must stay executable throughout.
    @Test func toggledWritesNeverMakeAnotherBlockNonExecutable() throws {
        let heap = try JITHeap(options: .init(regionSize: 16 << 20, protectionModes: [.toggled], pageSharing: nil))
        let runner = try heap.install(returnConstant(42))
        final class Shared: @unchecked Sendable {
            let started = Atomic<Bool>(false)
            let done = Atomic<Bool>(false)
            let wrong = Atomic<Int>(0)
            let calls = Atomic<Int>(0)
        }
        let shared = Shared()
        onThreads(2) { t in
            if t == 0 {
                shared.started.store(true, ordering: .releasing)
                while !shared.done.load(ordering: .acquiring) {
                    if call(runner) != 42 { shared.wrong.add(1, ordering: .relaxed) }
                    shared.calls.add(1, ordering: .relaxed)
                }
            } else {
                while !shared.started.load(ordering: .acquiring) { sched_yield() }
                var live: [CodeBlock] = []
                for round in 0 ..< 3000 {
                    let b = try! heap.install(returnConstant(Int32(round)) + [UInt8](repeating: 0xCC, count: round % 5 * 700))
                    try! heap.withWritableBytes(of: b) { $0[$0.count - 1] = 0xCC }
                    try! heap.copy(returnConstant(Int32(round + 1)), into: b)
                    if round % 3 == 0 { try! heap.shrink(b, to: 8) }
                    live.append(b)
                    if live.count > 6 { try! heap.deallocate(live.removeFirst()) }
                }
                for b in live { try! heap.deallocate(b) }
                shared.done.store(true, ordering: .releasing)
            }
        }
        #expect(shared.wrong.load(ordering: .relaxed) == 0)
        #expect(shared.calls.load(ordering: .relaxed) > 0)
        #expect(call(runner) == 42)
        try heap.verify()
    }

    /// In toggled mode no two live blocks share a system page, whatever their sizes, and a
    /// shrunk block keeps whole pages.
    @Test func toggledBlocksOwnWholePages() throws {
        let heap = try JITHeap(options: .init(regionSize: 16 << 20, protectionModes: [.toggled], pageSharing: nil))
        var pages: [UInt: CodeBlock] = [:]
        var blocks: [CodeBlock] = []
        for size in [1, 16, 100, 2048, 3000, 5000, 70_000, 300_000, 16, 16, 16] {
            let b = try heap.allocate(size: size)
            blocks.append(b)
            #expect(b.address % UInt(page) == 0, "block of \(size) bytes at \(b)")
            let bytes = try heap.size(of: b)
            #expect(bytes % page == 0, "block of \(size) bytes has \(bytes) usable bytes")
            for p in stride(from: b.address / UInt(page), to: (b.address + UInt(bytes) + UInt(page) - 1) / UInt(page), by: 1) {
                #expect(pages[p] == nil, "page \(p) holds \(b) and \(pages[p]!)")
                pages[p] = b
            }
        }
        let big = blocks[7]
        try heap.shrink(big, to: 5)
        #expect(try heap.size(of: big) == page)
        let next = try heap.allocate(size: 16)
        #expect(next.address >= big.address + UInt(page) || next.address < big.address)
        try heap.verify()
    }

    // MARK: Stale calls trap in every state

    /// Where a heap's code memory comes from, for the stale-call test.
    enum Setup: String, CaseIterable, CustomTestStringConvertible {
        case ownDualMapped, ownRWX, ownToggled, donatedDualMapped, donatedRWX, donatedToggled
        var testDescription: String { rawValue }
        var mode: ProtectionMode {
            switch self {
            case .ownDualMapped, .donatedDualMapped: return .dualMapped
            case .ownRWX, .donatedRWX: return .rwx
            case .ownToggled, .donatedToggled: return .toggled
            }
        }
    }

    /// A stale call into freed code dies by a signal whether the code was overwritten with
    /// traps, its page was decommitted, or the page was never committed; it never slides
    /// through zero bytes into the live function that follows.
    @Test(arguments: Setup.allCases)
    func staleCallsTrapInEveryState(setup: Setup) throws {
        let caller = try StaleCaller()
        let heap: JITHeap
        var keep: DualMapping? = nil
        var donated: MemoryRange? = nil
        switch setup {
        case .ownDualMapped, .ownRWX, .ownToggled:
            heap = try JITHeap(options: .init(regionSize: 8 << 20, protectionModes: [setup.mode], pageSharing: nil))
        case .donatedDualMapped, .donatedRWX, .donatedToggled:
            heap = try JITHeap(options: .init(protectionModes: [setup.mode], reservesRegion: false, pageSharing: nil))
            if setup == .donatedDualMapped {
                let m = try DualMapping(byteCount: 8 << 20, alignment: 2 << 20)
                keep = m
                try heap.addFreshMemory(executable: m.executable, writable: m.writable.pointer)
            } else {
                let r = try VirtualMemory.reserve(byteCount: 8 << 20, alignment: 2 << 20)
                try VirtualMemory.protect(r, to: setup == .donatedRWX ? .readWriteExecute : .readExecute)
                donated = r
                try heap.addFreshMemory(executable: r, mode: setup.mode)
            }
        }
        defer { if let donated { try? VirtualMemory.release(donated) } }
        // A small block first, at the start of the memory; then two large blocks in a chunk
        // aligned to 2 MiB, leaving a gap of never-committed pages in between.
        let small = try heap.install(returnConstant(1))
        let chunk = 128 << 10
        let first = try heap.allocate(size: chunk, alignment: 2 << 20)
        try heap.copy(returnConstant(11), into: first)
        let second = try heap.allocate(size: chunk)
        try heap.copy(returnConstant(22), into: second)
        #expect(first.address % UInt(2 << 20) == 0 && first.address > small.address)
        #expect(second.address == first.address + UInt(chunk))
        #expect(try caller.call(first.address) == .returned(11))

        // Never committed: the page before the large chunk.
        #expect(try caller.call(first.address - UInt(page)) == .signal(SIGSEGV), "never-committed page (\(setup))")

        // Overwritten with traps.
        try heap.deallocate(small)
        try heap.deallocate(first)
        #expect(try caller.call(small.address) == .signal(SIGTRAP), "freed small block (\(setup))")
        #expect(try caller.call(first.address) == .signal(SIGTRAP), "freed large block (\(setup))")

        // Decommitted.
        #expect(try heap.decommitEmptyPages() > 0)
        #expect(try caller.call(first.address) == .signal(SIGSEGV), "decommitted large block (\(setup))")
        #expect(try caller.call(small.address) == .signal(SIGSEGV), "decommitted small block (\(setup))")
        #expect(try caller.call(second.address) == .returned(22))

        // Committed again on reuse: trap-filled before it is executable.
        let again = try heap.allocate(size: chunk)
        #expect(again == first)
        #expect(try caller.call(again.address + UInt(chunk) - 16) == .signal(SIGTRAP), "re-committed block (\(setup))")
        try heap.copy(returnConstant(33), into: again)
        #expect(call(again) == 33)
        try heap.verify()
        withExtendedLifetime(keep) {}
    }

    // MARK: Freeing large blocks

    /// Two frees of the same large block race while the winner's thread installs a block over
    /// the memory freed: whichever free loses must not overwrite the new code with traps.
    /// To make the race bite, the second freeing thread is paused (a signal whose handler
    /// sleeps 2 ms) while it is inside `deallocate`, usually in the middle of its fill.
    @Test func racingDoubleFreesOfALargeBlockNeverOverwriteInstalledCode() throws {
        let heap = try JITHeap(options: .init(regionSize: 32 << 20, pageSharing: nil))
        let before = 128 << 10, size = 4 << 20
        let nops = [UInt8](repeating: 0x90, count: before + size)
        final class State: @unchecked Sendable {
            let round = Atomic<Int>(-1)
            let started = Atomic<Int>(-1)
            let finished = Atomic<Int>(-1)
            let ready = Atomic<Bool>(false)
            let spin = Atomic<Int>(0)
            var thread = pthread_t()
            var target: UInt = 0
            var secondFreed = false
            var overwritten = 0
            var badOutcomes: [String] = []
        }
        let state = State()
        let old = signal(SIGUSR1) { _ in usleep(2000) }
        defer { signal(SIGUSR1, old) }
        let rounds = 200
        onThreads(2) { t in
            if t == 1 {
                // The second free.
                state.thread = pthread_self()
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGUSR1)
                pthread_sigmask(SIG_UNBLOCK, &set, nil)
                state.ready.store(true, ordering: .releasing)
                for r in 0 ..< rounds {
                    while state.round.load(ordering: .acquiring) < r { sched_yield() }
                    state.started.store(r, ordering: .releasing)
                    state.secondFreed = (try? heap.deallocate(CodeBlock(address: state.target))) != nil
                    state.finished.store(r, ordering: .releasing)
                }
                return
            }
            // The first free, the install and the checks.
            var rng = SplitMix64(seed: 13)
            while !state.ready.load(ordering: .acquiring) { sched_yield() }
            for r in 0 ..< rounds {
                let y = try! heap.allocate(size: before)
                let x = try! heap.allocate(size: size)
                precondition(x.address == y.address + UInt(before))
                try! heap.deallocate(y)
                state.target = x.address
                state.round.store(r, ordering: .releasing)
                while state.started.load(ordering: .acquiring) < r { sched_yield() }
                // A short random delay, so the signal lands at different points of the second free.
                let spins = Int(rng.next() % 300)
                for i in 0 ..< spins { state.spin.store(i, ordering: .relaxed) }
                pthread_kill(state.thread, SIGUSR1)
                let firstFreed = (try? heap.deallocate(x)) != nil
                let c = try? heap.install(nops)
                while state.finished.load(ordering: .acquiring) < r { sched_yield() }
                guard let c else { state.badOutcomes.append("round \(r): install failed"); continue }
                if c.address != y.address { state.badOutcomes.append("round \(r): installed at \(c), not \(y)") }
                if firstFreed == state.secondFreed {
                    state.badOutcomes.append("round \(r): both frees \(firstFreed ? "succeeded" : "failed")")
                }
                let intact = nops.withUnsafeBytes { memcmp(c.pointer, $0.baseAddress!, $0.count) == 0 }
                if !intact { state.overwritten += 1 }
                try! heap.deallocate(c)
            }
        }
        #expect(
            state.overwritten == 0, "installed code overwritten by the losing free in \(state.overwritten) of \(rounds) rounds")
        #expect(state.badOutcomes.isEmpty, "\(state.badOutcomes.prefix(5))")
        try heap.verify()
    }

    // MARK: Re-entering a toggled write scope

    /// A toggled-mode write body that calls back into the heap on the same region gets
    /// `.reentrantWrite` instead of waiting forever for its own scope to close.
    @Test func toggledWriteBodyThatReentersTheHeapGetsAnError() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, protectionModes: [.toggled], pageSharing: nil))
        let a = try heap.install(returnConstant(1))
        let b = try heap.install(returnConstant(2))
        let big = try heap.install([UInt8](repeating: 0xC3, count: 100_000))
        let errors: [String]? = withTimeout(seconds: 5) {
            var seen: [String] = []
            func attempt(_ what: String, _ body: () throws -> Void) {
                do { try body(); seen.append("\(what): no error") } catch let e as PasError {
                    if case .reentrantWrite = e { seen.append("\(what): reentrant") } else { seen.append("\(what): \(e)") }
                } catch { seen.append("\(what): \(error)") }
            }
            try? heap.withWritableBytes(of: a) { buffer in
                buffer.copyBytes(from: returnConstant(3))
                attempt("copy") { try heap.copy(returnConstant(4), into: b) }
                attempt("write") { try heap.withWritableBytes(of: b) { $0[0] = 0xC3 } }
                attempt("install") { _ = try heap.install(returnConstant(5)) }
                attempt("allocate") { _ = try heap.allocate(size: 64) }
                attempt("shrink") { try heap.shrink(big, to: 16) }
                attempt("deallocate") { try heap.deallocate(b) }
            }
            return seen
        }
        let seen = try #require(errors, "the write body hung")
        #expect(seen == ["copy", "write", "install", "allocate", "shrink", "deallocate"].map { "\($0): reentrant" })
        // The scope's own write landed; the refused operations changed nothing.
        #expect(call(a) == 3)
        #expect(call(b) == 2)
        #expect(try heap.size(of: big) >= 100_000)
        try heap.deallocate(b)
        try heap.verify()
    }
}

/// The word freed and freshly committed code memory is filled with.
let trapWord: UInt32 = {
    #if arch(arm64)
    return 0xD420_0000
    #else
    return 0xCCCC_CCCC
    #endif
}()

/// Ranges a runtime gives `addFreshMemory` are checked before the heap uses them.
@Suite struct FreshMemoryCheckTests {
    let page = SystemInfo.pageSize

    func isUnusable(_ error: any Error) -> Bool {
        if case .unusableMemory? = error as? PasError { return true }
        return false
    }

    /// Ranges that are not mapped in full are refused. The unmapped parts lie in the lowest
    /// pages of the address space, which the kernel never hands out by itself (tests running
    /// in parallel cannot map them meanwhile, and the heap must never take over their memory).
    @Test func unmappedRangesAreRefused() throws {
        let heap = try JITHeap(options: .init(protectionModes: [.rwx], reservesRegion: false, pageSharing: nil))
        // Below vm.mmap_min_addr: never mapped.
        let never = MemoryRange(start: UInt(4 * page), byteCount: 4 * page)
        #expect(performing: { try heap.addFreshMemory(executable: never) }, throws: isUnusable)
        // A dual mapping whose writable view is not mapped.
        let x = try VirtualMemory.reserve(byteCount: 4 * page, alignment: page)
        defer { try? VirtualMemory.release(x) }
        #expect(performing: { try heap.addFreshMemory(executable: x, writable: never.pointer) }, throws: isUnusable)
        // Mapped in part: two pages of ours just above the lowest mappable address, with
        // nothing mapped right below or above them.
        var minimum: UInt = 65536
        if let f = fopen("/proc/sys/vm/mmap_min_addr", "r") {
            var value: UInt = 0
            if withUnsafeMutablePointer(to: &value, { v in withVaList([v]) { vfscanf(f, "%lu", $0) } }) == 1 { minimum = value }
            fclose(f)
        }
        let base = Alignment.roundUp(max(minimum, UInt(page)), to: page) + UInt(16 * page)
        let raw = mmap(
            UnsafeMutableRawPointer(bitPattern: base), 2 * page, PROT_READ | PROT_EXEC,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        if let raw, raw != MAP_FAILED, UInt(bitPattern: raw) == base {
            defer { munmap(raw, 2 * page) }
            let tailMissing = MemoryRange(start: base, byteCount: 4 * page)
            let headMissing = MemoryRange(start: base - UInt(2 * page), byteCount: 4 * page)
            #expect(performing: { try heap.addFreshMemory(executable: tailMissing) }, throws: isUnusable)
            #expect(performing: { try heap.addFreshMemory(executable: headMissing) }, throws: isUnusable)
        } else {
            Issue.record("could not map two pages at 0x\(String(base, radix: 16)) for the partly-mapped case")
        }
        #expect(heap.statistics.reservedBytes == 0)
    }

    @Test func theStackIsRefused() throws {
        let heap = try JITHeap(options: .init(protectionModes: [.rwx], reservesRegion: false, pageSharing: nil))
        var local = 0
        let here = withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
        let stackPage = MemoryRange(start: here & ~UInt(page - 1), byteCount: page)
        #expect(performing: { try heap.addFreshMemory(executable: stackPage) }, throws: isUnusable)
        #expect(local == 0)
        #expect(heap.statistics.reservedBytes == 0)
    }

    @Test func fileMappingsAreRefused() throws {
        let heap = try JITHeap(options: .init(protectionModes: [.rwx], reservesRegion: false, pageSharing: nil))
        let fd = open("/proc/self/exe", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let p: UnsafeMutableRawPointer = mmap(nil, page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
        try #require(p != MAP_FAILED)
        defer { munmap(p, page) }
        #expect(
            performing: { try heap.addFreshMemory(executable: MemoryRange(p, byteCount: page), mode: .toggled) },
            throws: isUnusable)
    }

    @Test func anonymousAndMemoryFileRangesAreAccepted() throws {
        let heap = try JITHeap(options: .init(protectionModes: [.rwx], reservesRegion: false, pageSharing: nil))
        let r = try VirtualMemory.reserve(byteCount: 2 << 20, alignment: 2 << 20)
        defer { try? VirtualMemory.release(r) }
        try VirtualMemory.protect(r, to: .readWriteExecute)
        try heap.addFreshMemory(executable: r)
        let m = try DualMapping(byteCount: 2 << 20, alignment: 2 << 20)
        try heap.addFreshMemory(executable: m.executable, writable: m.writable.pointer)
        let b = try heap.install(returnConstant(8))
        #expect(call(b) == 8)
        #expect(heap.statistics.reservedBytes == 4 << 20)
        withExtendedLifetime(m) {}
    }
}
