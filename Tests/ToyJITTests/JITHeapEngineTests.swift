import Testing
import PasJIT
import PasSystem
import ToyJITCore

@Suite struct JITHeapEngineTests {
    @Test(arguments: ProtectionMode.allCases)
    func demoRunsFromTheJITHeap(mode: ProtectionMode) throws {
        guard Architecture.host != nil else { return }
        let heap = try JITHeap(options: .mode(mode, regionSize: 4 << 20))
        let program = try Program(source: DemoProgram.source)
        let engine = try Engine(program: program, memory: JITHeapCodeMemory(heap: heap))
        var interpreter = Interpreter(program: program)
        #expect(try engine.run() == (try interpreter.run()))
        #expect(heap.statistics.blockCount == program.functions.count)
        for f in program.functions {
            #expect(heap.contains(try #require(engine.entryAddress(of: f.name))))
        }
        // Redefinition frees the old code: it is filled with traps, the block count is unchanged.
        let old = try #require(engine.entryAddress(of: "fib"))
        try engine.redefine(DemoProgram.fastFib)
        #expect(try engine.call("fib", [30]) == 832_040)
        #expect(heap.statistics.blockCount == program.functions.count)
        #expect(throws: PasError.self) { try heap.size(of: CodeBlock(address: old)) }
        try heap.verify()
    }

    @Test func programTooLargeForTheRegionGivesTheHeapsError() throws {
        guard Architecture.host != nil else { return }
        // A 1 MiB region holds one 1 MiB medium chunk; 16 KiB-sized functions exhaust it.
        let heap = try JITHeap(options: .mode(.dualMapped, regionSize: 1 << 20))
        var source = ""
        let body = (0 ..< 400).map { "x = x * 3 + \($0);" }.joined(separator: " ")
        for i in 0 ..< 200 { source += "fn f\(i)(x) { \(body) return x; }\n" }
        source += "fn main() { return f0(1); }\n"
        let program = try Program(source: source)
        do {
            _ = try Engine(program: program, memory: JITHeapCodeMemory(heap: heap))
            Issue.record("expected the JIT heap to run out of room")
        } catch let error as PasError {
            guard case .outOfMemory = error else { Issue.record("unexpected \(error)"); return }
        }
        // Everything installed before the failure was released.
        #expect(heap.statistics.blockCount == 0)
        try heap.verify()
    }
}
