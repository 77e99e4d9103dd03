import Testing
import PasJIT
import PasSystem
import PasTestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The bytes at a block's executable address (what a call would run).
private func executableBytes(_ block: CodeBlock, count: Int) -> [UInt8] {
    // Invariant: the block is live in this process and at least `count` bytes long.
    Array(UnsafeRawBufferPointer(start: block.pointer, count: count))
}

/// Child exit codes of these tests.
private enum ChildCode {
    static let ok: Int32 = 0
    static let wrongResult: Int32 = 3
    static let threw: Int32 = 4
    static let parentCodeChanged: Int32 = 5
    static let donatedRegionWritable: Int32 = 6
}

/// Fork and code memory: a child gets code memory of its own (dual-mapped regions are copied
/// at fork), so neither process can rewrite, free or punch the other's code, and a child of a
/// busy multithreaded process never inherits a JIT lock held by a thread it does not have.
@Suite(.serialized) struct JITForkTests {
    @Test func childInstallsFreesAndScavengesWithoutTouchingParentCode() throws {
        let heap = try JITHeap(options: JITHeap.Options(regionSize: 16 << 20, pageSharing: nil))
        let code = returnConstant(42)
        let parentBlock = try heap.install(code)
        let bigParentBlock = try heap.install([UInt8](repeating: 0x90, count: 100_000) + code)
        #expect(call(parentBlock) == 42)
        let outcome = ForkedChild.run(timeoutSeconds: 20) {
            do {
                // Free the inherited blocks (fills them with traps), install over them, scavenge.
                try heap.deallocate(parentBlock)
                try heap.deallocate(bigParentBlock)
                var mine: [CodeBlock] = []
                for i in 0 ..< 40 { mine.append(try heap.install(returnConstant(Int32(1000 + i)))) }
                for (i, b) in mine.enumerated() where call(b) != Int32(1000 + i) { return ChildCode.wrongResult }
                for b in mine { try heap.deallocate(b) }
                _ = try heap.decommitEmptyPages()
                let last = try heap.install(returnConstant(7))
                try heap.copy(returnConstant(8), into: last)
                return call(last) == 8 ? ChildCode.ok : ChildCode.wrongResult
            } catch {
                return ChildCode.threw
            }
        }
        #expect(outcome == .exited(ChildCode.ok))
        #expect(executableBytes(parentBlock, count: code.count) == code, "the child's writes reached the parent's code")
        let big = executableBytes(CodeBlock(address: bigParentBlock.address + 100_000), count: code.count)
        #expect(big == code, "the child's scavenge or fill reached the parent's code")
        if executableBytes(parentBlock, count: code.count) == code { #expect(call(parentBlock) == 42) }
        let next = try heap.install(returnConstant(9))
        #expect(call(next) == 9)
        if executableBytes(parentBlock, count: code.count) == code { #expect(call(parentBlock) == 42) }
        try heap.verify()
    }

    @Test func parentFreesAndScavengesWithoutTouchingChildCode() throws {
        let heap = try JITHeap(options: JITHeap.Options(regionSize: 16 << 20, pageSharing: nil))
        let code = returnConstant(31)
        let block = try heap.install(code)
        let go = ForkSignalPipe()
        defer { go.close() }
        let started = ForkedChild.start {
            guard go.waitForSignal() else { return ChildCode.threw }
            guard executableBytes(block, count: code.count) == code else { return ChildCode.parentCodeChanged }
            guard call(block) == 31 else { return ChildCode.wrongResult }
            // The child's heap still works after the parent's changes.
            guard let mine = try? heap.install(returnConstant(5)), call(mine) == 5 else { return ChildCode.threw }
            return ChildCode.ok
        }
        let child = try started.get()
        try heap.deallocate(block)
        var others: [CodeBlock] = []
        for i in 0 ..< 20 { others.append(try heap.install(returnConstant(Int32(i)))) }
        for b in others { try heap.deallocate(b) }
        _ = try heap.decommitEmptyPages()
        go.signal()
        #expect(child.wait(timeoutSeconds: 20) == .exited(ChildCode.ok))
    }

    @Test func donatedDualMappingRefusesChildWrites() throws {
        // A runtime's own dual mapping handed to the heap: no private copy exists in a child.
        let mapping = try DualMapping(byteCount: 4 << 20, alignment: 2 << 20)
        let heap = try JITHeap(options: JITHeap.Options(reservesRegion: false, pageSharing: nil))
        try heap.addFreshMemory(executable: mapping.executable, writable: mapping.writable.pointer)
        let code = returnConstant(17)
        let block = try heap.install(code)
        #expect(call(block) == 17)
        let outcome = ForkedChild.run(timeoutSeconds: 20) {
            func refusedForFork(_ body: () throws(PasError) -> Void) -> Bool {
                do { try body() } catch {
                    if case .unsupported(_, let reason) = error, reason.contains("fork") { return true }
                    return false
                }
                return false
            }
            guard refusedForFork({ () throws(PasError) in _ = try heap.install(returnConstant(1)) }),
                refusedForFork({ () throws(PasError) in try heap.copy(returnConstant(2), into: block) }),
                refusedForFork({ () throws(PasError) in try heap.deallocate(block) }),
                refusedForFork({ () throws(PasError) in try heap.shrink(block, to: 16) })
            else {
                return ChildCode.donatedRegionWritable
            }
            // Scavenging must not punch the shared memory either (it may fail, not write).
            _ = try? heap.decommitEmptyPages()
            return call(block) == 17 ? ChildCode.ok : ChildCode.wrongResult
        }
        #expect(outcome == .exited(ChildCode.ok))
        #expect(executableBytes(block, count: code.count) == code)
        #expect(call(block) == 17)
        try heap.deallocate(block)
    }

    @Test(arguments: ProtectionMode.allCases)
    func childrenOfABusyProcessUseTheirJITHeap(mode: ProtectionMode) throws {
        let heap = try JITHeap(
            options: JITHeap.Options(
                regionSize: 32 << 20, protectionModes: [mode],
                scavengeDelay: .milliseconds(1)))
        let stop = Atomic<Bool>(false)
        let workers = (0 ..< 3).map { t in
            JoinableThread {
                var n = 0
                while !stop.load(ordering: .relaxed) {
                    var blocks: [CodeBlock] = []
                    for i in 0 ..< 8 {
                        let size = (t * 977 + i * 3301 + n * 61) % 40_000 + 16
                        if let b = try? heap.install([UInt8](repeating: 0xC3, count: size)) { blocks.append(b) }
                    }
                    if n % 50 == 0, let b = try? heap.install([UInt8](repeating: 0xC3, count: 300_000)) { blocks.append(b) }
                    for b in blocks { try? heap.deallocate(b) }
                    if n % 16 == 0 { _ = try? heap.decommitEmptyPages() }
                    n += 1
                }
            }
        }
        defer {
            stop.store(true, ordering: .relaxed)
            for worker in workers { worker.join() }
        }
        usleep(20_000)
        for round in 0 ..< 20 {
            let outcome = ForkedChild.run(timeoutSeconds: 10) {
                do {
                    let b = try heap.install(returnConstant(Int32(round)))
                    guard call(b) == Int32(round) else { return ChildCode.wrongResult }
                    let medium = try heap.install([UInt8](repeating: 0x90, count: 10_000) + returnConstant(2))
                    let big = try heap.install([UInt8](repeating: 0x90, count: 200_000) + returnConstant(3))
                    guard call(medium) == 2, call(big) == 3 else { return ChildCode.wrongResult }
                    try heap.deallocate(b)
                    try heap.deallocate(medium)
                    try heap.deallocate(big)
                    _ = try heap.decommitEmptyPages()
                    try heap.verify()
                    return ChildCode.ok
                } catch {
                    return ChildCode.threw
                }
            }
            #expect(outcome == .exited(ChildCode.ok), "fork \(round)")
            if outcome != .exited(ChildCode.ok) { break }
        }
    }
}
