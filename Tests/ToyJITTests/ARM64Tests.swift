import Testing
import PasTestSupport
@testable import ToyJITCore

@Suite("ToyJIT arm64 code generation")
struct ARM64Tests {
    /// Each instruction the assembler can emit, with llvm-objdump's rendering of it.
    private func encodingCases() -> [(String, (inout ARM64Assembler) -> Void)] {
        var cases: [(String, (inout ARM64Assembler) -> Void)] = [
            ("mov x0, #1", { $0.movz(.x(0), 1) }),
            ("mov x0, #305397760", { $0.movz(.x(0), 0x1234, shift: 16) }),
            ("movk x0, #4660, lsl #16", { $0.movk(.x(0), 0x1234, shift: 16) }),
            ("movk x16, #65535, lsl #48", { $0.movk(.x(16), 0xFFFF, shift: 48) }),
            ("mov x0, #-1", { $0.movn(.x(0), 0) }),
            ("mov x3, #-65536", { $0.movn(.x(3), 0xFFFF) }),
            ("mov x0, x1", { $0.mov(.x(0), .x(1)) }),
            ("mov x29, sp", { $0.add(.fp, .sp, immediate: 0) }),
            ("mov sp, x29", { $0.add(.sp, .fp, immediate: 0) }),
            ("sub sp, sp, #32", { $0.sub(.sp, .sp, immediate: 32) }),
            ("add sp, sp, #4000", { $0.add(.sp, .sp, immediate: 4000) }),
            ("add x0, x1, x0", { $0.add(.x(0), .x(1), .x(0)) }),
            ("sub x0, x1, x0", { $0.sub(.x(0), .x(1), .x(0)) }),
            ("neg x0, x0", { $0.neg(.x(0), .x(0)) }),
            ("mul x0, x1, x0", { $0.mul(.x(0), .x(1), .x(0)) }),
            ("sdiv x2, x1, x0", { $0.sdiv(.x(2), .x(1), .x(0)) }),
            ("msub x0, x2, x0, x1", { $0.msub(.x(0), .x(2), .x(0), .x(1)) }),
            ("cmp x1, x0", { $0.cmp(.x(1), .x(0)) }),
            ("cmp x0, #0", { $0.cmp(.x(0), immediate: 0) }),
            ("ldr x0, [x29, #16]", { $0.ldr(.x(0), .fp, offset: 16) }),
            ("str x5, [x29, #4008]", { $0.str(.x(5), .fp, offset: 4008) }),
            ("ldr x16, [x16, #32760]", { $0.ldr(.x(16), .x(16), offset: 32760) }),
            ("str x0, [sp, #-16]!", { $0.strPreIndex(.x(0), .sp, offset: -16) }),
            ("ldr x1, [sp], #16", { $0.ldrPostIndex(.x(1), .sp, offset: 16) }),
            ("stp x29, x30, [sp, #-16]!", { $0.stpPreIndex(.fp, .lr, .sp, offset: -16) }),
            ("ldp x29, x30, [sp], #16", { $0.ldpPostIndex(.fp, .lr, .sp, offset: 16) }),
            ("ldur x17, [x16, #-16]", { $0.ldur(.x(17), .x(16), offset: -16) }),
            ("stur x17, [x16, #-8]", { $0.stur(.x(17), .x(16), offset: -8) }),
            ("blr x16", { $0.blr(.x(16)) }),
            ("ret", { $0.ret() }),
        ]
        let conditions: [(ARM64Condition, String)] = [
            (.eq, "eq"), (.ne, "ne"), (.lt, "lt"), (.le, "le"), (.gt, "gt"), (.ge, "ge"),
        ]
        for (condition, name) in conditions {
            cases.append(("cset x0, \(name)", { $0.cset(.x(0), condition) }))
        }
        return cases
    }

    @Test func instructionEncodingsMatchLLVMObjdump() throws {
        guard Disassembly.objdumpPath() != nil else {
            print("llvm-objdump not found; skipping arm64 encoding check")
            return
        }
        var assembler = ARM64Assembler()
        let cases = encodingCases()
        for (_, emit) in cases { emit(&assembler) }
        // Branches: forward and backward, each kind.
        let start = assembler.newLabel(), end = assembler.newLabel()
        assembler.bind(start)
        let base = cases.count
        assembler.b(end)
        assembler.cbz(.x(0), start)
        assembler.cbnz(.x(3), end)
        assembler.b(.lt, start)
        assembler.b(.hs, end)
        assembler.bind(end)
        let code = try assembler.finish()
        let lines = try #require(Disassembly.instructionLines(code, architecture: .arm64)).map(\.text)
        let hex = { (index: Int) in "0x" + String(index * 4, radix: 16) }
        let expected =
            cases.map(\.0) + [
                "b \(hex(base + 5))", "cbz x0, \(hex(base))", "cbnz x3, \(hex(base + 5))", "b.lt \(hex(base))",
                "b.hs \(hex(base + 5))",
            ]
        #expect(lines.count == expected.count)
        for (line, want) in zip(lines, expected) {
            // Branch targets are followed by a symbolic "<.text+0x..>" annotation.
            #expect(line == want || line.hasPrefix(want + " <"), "objdump: \(line)")
        }
    }

    @Test func branchesOutOfRangeAreReportedNotTruncated() throws {
        var assembler = ARM64Assembler()
        let far = assembler.newLabel()
        assembler.cbz(.x(0), far)
        for _ in 0 ..< (1 << 18) { assembler.emit(0xD503_201F) } // nop
        assembler.bind(far)
        #expect(throws: EmitError.self) { _ = try assembler.finish() }

        var reachable = ARM64Assembler()
        let near = reachable.newLabel()
        reachable.cbz(.x(0), near)
        for _ in 0 ..< (1 << 18) - 2 { reachable.emit(0xD503_201F) }
        reachable.bind(near)
        let code = try reachable.finish()
        #expect(code.prefix(4) == [0xE0, 0xFF, 0x7F, 0xB4]) // cbz x0, +(2^18 - 1) instructions
    }

    @Test func compiledFunctionsDisassembleCleanly() throws {
        guard Disassembly.objdumpPath() != nil else {
            print("llvm-objdump not found; skipping arm64 disassembly check")
            return
        }
        let program = try Program(
            source: DemoProgram.source + """

                fn every(a, b, c, d, e, f) {
                    let x = -a * b / c % d + e - f;
                    if !(x < 1 && x <= 2 || x > 3) { x = x >= 4; } else { x = (x == 5) + (x != 6); }
                    while x < 10 { x = x + every(1, 2, 3, 4, 5, 6) + 81985529216486895; }
                    return x;
                }
                """)
        for function in program.functions {
            let code = try Compiler.compile(function, for: .arm64, functionTable: 0x1234_5678_9ABC_DEF0)
            let lines = try #require(Disassembly.instructionLines(code, architecture: .arm64)).map(\.text)
            #expect(lines.count == code.count / 4, "\(function.name)")
            #expect(!lines.contains { $0.contains("unknown") || $0.contains("invalid") }, "\(function.name): \(lines)")
            #expect(lines.prefix(3).contains("stp x29, x30, [sp, #-16]!"))
            #expect(lines.last == "ret")
            // Calls load the table address and go through x16.
            let calls = lines.filter { $0.hasPrefix("blr") }
            #expect(calls.allSatisfy { $0 == "blr x16" })
        }
    }

    @Test func constantsLoadExactly() throws {
        var rng = SplitMix64(seed: 0x5EED)
        var values: [Int64] = [0, 1, -1, .min, .max, 0xFFFF, 0x10000, -0x10000, 0x1234_0000_5678, -0x1234_0000_0001]
        for _ in 0 ..< 200 { values.append(Int64(bitPattern: rng.next())) }
        for _ in 0 ..< 100 { values.append(Int64(bitPattern: rng.next() & 0xFFFF_0000_FFFF_0000)) }
        for value in values {
            let program = try Program(source: "fn main() { return 0; }")
            var function = program.functions[0]
            function.body = [.return(.constant(value))]
            var emulator = ARM64Emulator(code: [
                try Compiler.compile(function, for: .arm64, functionTable: UInt(ARM64Emulator.tableAddress))
            ])
            #expect(try emulator.call(0, []) == value, "constant \(value)")
        }
    }

    /// Runs `program` compiled for arm64 in the emulator.
    private func emulate(_ program: Program, _ index: Int, _ arguments: [Int64]) throws -> Int64 {
        let code = try program.functions.map { (f) throws(SourceError) in
            try Compiler.compile(f, for: .arm64, functionTable: UInt(ARM64Emulator.tableAddress))
        }
        var emulator = ARM64Emulator(code: code)
        let result = try emulator.call(index, arguments)
        #expect(emulator.sp == ARM64Emulator.stackTop, "stack balanced")
        #expect(!emulator.overflowed)
        return result
    }

    @Test func runawayRecursionStopsAtTheStackLimit() throws {
        let program = try Program(
            source: "fn f(n) { let x = f(n + 1); while 1 { x = x + 1; } return x; }\nfn main() { return f(0) + 1; }")
        let code = try program.functions.map { (f) throws(SourceError) in
            try Compiler.compile(f, for: .arm64, functionTable: UInt(ARM64Emulator.tableAddress))
        }
        var emulator = ARM64Emulator(code: code)
        // Every frame returns 0 as soon as the flag is up, skipping the endless loop.
        #expect(try emulator.call(program.mainIndex, []) == 0)
        #expect(emulator.overflowed)
        #expect(emulator.sp == ARM64Emulator.stackTop)
    }

    @Test func everyConstructMatchesTheInterpreterInEmulation() throws {
        for source in ConstructSources.all {
            let program = try Program(source: source)
            var interpreter = Interpreter(program: program)
            #expect(try emulate(program, program.mainIndex, []) == interpreter.run(), "\(source)")
        }
        let demo = try Program(source: DemoProgram.source)
        var interpreter = Interpreter(program: demo)
        for (name, arguments) in [("fib", [Int64(10)]), ("primes", [50]), ("collatz", [30])] {
            let index = demo.index(of: name)!
            #expect(try emulate(demo, index, arguments) == interpreter.call(index, arguments), "\(name)")
        }
    }

    @Test func randomProgramsMatchTheInterpreterInEmulation() throws {
        let master = UInt64.random(in: 0 ... .max)
        var seeds = SplitMix64(seed: master)
        for _ in 0 ..< 120 {
            let seed = seeds.next()
            var generator = RandomProgramGenerator(seed: seed)
            let source = generator.program()
            let program = try Program(source: source)
            var interpreter = Interpreter(program: program)
            let expected = try interpreter.run()
            #expect(try emulate(program, program.mainIndex, []) == expected, "seed \(seed) (master \(master))\n\(source)")
        }
    }
}
