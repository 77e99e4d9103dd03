import PasSystem
import Testing
import PasTestSupport
@testable import ToyJITCore

#if arch(x86_64)
@Suite("ToyJIT compiled x86-64 code")
struct X86ExecutionTests {
    /// Compiles and runs `source`, and checks main's result against the interpreter.
    @discardableResult
    private func runBoth(_ source: String, comment: String = "") throws -> Int64 {
        let program = try Program(source: source)
        var interpreter = Interpreter(program: program)
        let expected = try interpreter.run()
        let memory = try DualMappingCodeMemory(byteCount: 1 << 20)
        let engine = try Engine(program: program, memory: memory)
        let actual = try engine.run()
        #expect(actual == expected, "\(comment)\n\(source)")
        return actual
    }

    @Test func everyConstructMatchesTheInterpreter() throws {
        #expect(try runBoth("fn main() { return 42; }") == 42)
        #expect(try runBoth("fn main() { return -9223372036854775807 - 1; }") == .min)
        #expect(try runBoth("fn main() { return 81985529216486895; }") == 81_985_529_216_486_895)
        #expect(try runBoth("fn main() { return 1 + 2 * 3 - 4; }") == 3)
        #expect(try runBoth("fn main() { return 7 / 2 + 7 % 2 * 10 + -7 / 2 * 100 + -7 % 2 * 1000; }") == -1287)
        #expect(
            try runBoth(
                "fn main() { return (1 < 2) + (2 <= 2) * 2 + (3 > 4) * 4 + (4 >= 5) * 8 + (5 == 5) * 16 + (5 != 5) * 32; }") == 19
        )
        #expect(try runBoth("fn main() { return (-1 < 1) + (-1 > 1) * 2; }") == 1)
        #expect(try runBoth("fn main() { return !0 + !7 * 2 + (3 && 4) * 4 + (0 || 5) * 8 + (0 && 1) + (0 || 0); }") == 13)
        #expect(try runBoth("fn main() { let x = 0; let i = 0; while i < 10 { x = x + i; i = i + 1; } return x; }") == 45)
        #expect(
            try runBoth("fn main() { let x = 2; if x > 3 { x = 1; } else if x > 1 { x = 7; } else { x = 2; } return x; }") == 7)
        #expect(try runBoth("fn main() { let x = 1; if 1 { let x = 5; x = x + 1; } return x; }") == 1)
        #expect(try runBoth("fn main() { 1 + 2; }") == 0)
        #expect(try runBoth("fn main() { return; }") == 0)
        #expect(
            try runBoth("fn fib(n) { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }\nfn main() { return fib(20); }")
                == 6765)
        #expect(
            try runBoth(
                "fn even(n) { if n == 0 { return 1; } return odd(n - 1); }\nfn odd(n) { if n == 0 { return 0; } return even(n - 1); }\nfn main() { return even(100) * 10 + odd(77); }"
            ) == 11)
        #expect(try runBoth("fn loop() { return loop(); }\nfn main() { return (0 && loop()) + (1 || loop()) * 2; }") == 2)
    }

    @Test func divisionEdgeCasesDoNotTrap() throws {
        #expect(try runBoth("fn main() { return 5 / 0; }") == 0)
        #expect(try runBoth("fn main() { return 5 % 0; }") == 5)
        #expect(try runBoth("fn main() { return (-9223372036854775807 - 1) / -1; }") == .min)
        #expect(try runBoth("fn main() { return (-9223372036854775807 - 1) % -1; }") == 0)
        #expect(try runBoth("fn main() { return 9223372036854775807 + 1; }") == .min)
        #expect(try runBoth("fn main() { return -(-9223372036854775807 - 1); }") == .min)
        #expect(try runBoth("fn main() { return 4611686018427387904 * 4; }") == 0)
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let engine = try Engine(
            program: try Program(
                source: "fn div(a, b) { return a / b; }\nfn rem(a, b) { return a % b; }\nfn main() { return 0; }"), memory: memory
        )
        for (a, b) in [(Int64(7), Int64(3)), (-7, 3), (7, -3), (-7, -3), (5, 0), (.min, -1), (.min, 0), (.max, -1), (0, 0)] {
            #expect(try engine.call("div", [a, b]) == ToyArithmetic.apply(.divide, a, b), "\(a) / \(b)")
            #expect(try engine.call("rem", [a, b]) == ToyArithmetic.apply(.remainder, a, b), "\(a) % \(b)")
        }
    }

    @Test func argumentsPassInEveryRegisterAndCallsKeepTheStackBalanced() throws {
        let source = """
            fn mix(a, b, c, d, e, f) { return a - 2 * b + 3 * c - 4 * d + 5 * e - 6 * f; }
            fn wrap(a, b, c, d, e, f) { return 1 + (2 + (3 + mix(f, e, d, c, b, a))); }
            fn main() { return 1 + wrap(1, 2, 3, 4, 5, 6) * (2 + mix(6, 5, 4, 3, 2, 1)); }
            """
        try runBoth(source)
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let engine = try Engine(program: try Program(source: source), memory: memory)
        #expect(try engine.call("mix", [1, 10, 100, 1000, 10000, 100000]) == 1 - 20 + 300 - 4000 + 50000 - 600000)
        #expect(throws: EngineError.wrongArgumentCount(function: "mix", expected: 6, given: 1)) { try engine.call("mix", [1]) }
        #expect(throws: EngineError.unknownFunction("nope")) { try engine.call("nope", []) }
    }

    @Test func demoProgramRunsCompiled() throws {
        let program = try Program(source: DemoProgram.source)
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let engine = try Engine(program: program, memory: memory)
        var interpreter = Interpreter(program: program)
        for (name, arguments) in DemoProgram.showcase where name != "main" {
            let small = arguments.map { min($0, 18) }
            #expect(try engine.call(name, small) == interpreter.call(program.index(of: name)!, small), "\(name)\(small)")
        }
        #expect(try engine.call("fib", [25]) == 75025)
        #expect(try engine.call("primes", [10000]) == 1229)
        #expect(try engine.call("collatz", [10000]) == 6171)
        #expect(try engine.run() == 75025 + 1229 + 6171)
        #expect(engine.codeByteCount == memory.liveBytes)
        #expect(engine.codeByteCount == engine.program.functions.map { engine.codeByteCount(of: $0.name)! }.reduce(0, +))
        #expect(engine.codeByteCount(of: "fib")! > 0)
        #expect(engine.codeByteCount(of: "nope") == nil)
    }

    @Test func redefinitionSwitchesTheTableAndReleasesOldCode() throws {
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let engine = try Engine(
            program: try Program(
                source: """
                    fn f(x) { return x + 1; }
                    fn g(x) { return f(x) * 2; }
                    fn main() { return g(10); }
                    """), memory: memory)
        #expect(try engine.run() == 22)
        let oldF = try #require(engine.entryAddress(of: "f"))
        let oldG = try #require(engine.entryAddress(of: "g"))
        try engine.redefine("fn f(x) { let y = x; while y < 100 { y = y + 1; } return y + x; }")
        #expect(try engine.run() == 220)
        #expect(engine.entryAddress(of: "g") == oldG) // callers are not recompiled
        #expect(engine.entryAddress(of: "f") != oldF)
        #expect(memory.released == [oldF])
        #expect(engine.codeByteCount == memory.liveBytes)
        // A function may be redefined to call itself.
        try engine.redefine("fn f(x) { if x <= 0 { return 0; } return x + f(x - 1); }")
        #expect(try engine.run() == 110)
        // Bad redefinitions leave the current code in place.
        let current = engine.entryAddress(of: "f")
        #expect(throws: SourceError("'f' must keep its 1 parameter(s)", at: SourceLocation(line: 1, column: 4))) {
            try engine.redefine("fn f(x, y) { return 0; }")
        }
        #expect(throws: SourceError("no function 'h' to redefine", at: SourceLocation(line: 1, column: 4))) {
            try engine.redefine("fn h() { return 0; }")
        }
        #expect(throws: SourceError("undefined function 'k'", at: SourceLocation(line: 1, column: 18))) {
            try engine.redefine("fn f(x) { return k(x); }")
        }
        #expect(engine.entryAddress(of: "f") == current)
        #expect(try engine.run() == 110)
    }

    @Test func fastFibonacciReplacesTheRecursiveOneAndItsCodeIsFreed() throws {
        let memory = try DualMappingCodeMemory(byteCount: 1 << 20)
        let engine = try Engine(program: try Program(source: DemoProgram.source), memory: memory)
        let before = try (0 ... 25).map { try engine.call("fib", [Int64($0)]) }
        let main = try engine.run()
        let old = try #require(engine.entryAddress(of: "fib"))
        try engine.redefine(DemoProgram.fastFib)
        #expect(memory.released == [old])
        #expect(engine.entryAddress(of: "fib") != old)
        #expect(engine.codeByteCount == memory.liveBytes)
        #expect(try (0 ... 25).map { try engine.call("fib", [Int64($0)]) } == before)
        #expect(try engine.run() == main) // main reaches the new fib through the table
        #expect(try engine.call("fib", [90]) == 2_880_067_194_370_816_120)
    }

    @Test func codeMemoryFailuresPropagateAndReleaseWhatWasInstalled() throws {
        let source = "fn a() { return 1; }\nfn b() { return a() + 1; }\nfn main() { return b(); }"
        let base = try DualMappingCodeMemory(byteCount: 1 << 16)
        #expect(throws: FailingCodeMemory.Injected(installIndex: 2)) {
            _ = try Engine(program: try Program(source: source), memory: FailingCodeMemory(base: base, failingInstall: 2))
        }
        #expect(base.live.isEmpty)
        #expect(base.released.count == 2)

        // A program larger than the code memory gets the memory's own error.
        let many = (0 ..< 200).map { "fn f\($0)(a, b) { let x = a * b + \($0); while x > 0 { x = x / 2; } return x; }" }
        let tiny = try DualMappingCodeMemory(byteCount: SystemInfo.pageSize)
        #expect(throws: PasError.self) {
            _ = try Engine(program: try Program(source: many.joined(separator: "\n") + "\nfn main() { return 0; }"), memory: tiny)
        }
        #expect(tiny.live.isEmpty)

        // Redefinition that cannot be installed keeps the old code running.
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let failing = FailingCodeMemory(base: memory, failingInstall: 3)
        let engine = try Engine(program: try Program(source: source), memory: failing)
        #expect(throws: FailingCodeMemory.Injected(installIndex: 3)) { try engine.redefine("fn a() { return 5; }") }
        #expect(try engine.run() == 2)
        try engine.redefine("fn a() { return 5; }")
        #expect(try engine.run() == 6)
    }

    @Test func runawayRecursionIsAnErrorNotACrash() throws {
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let engine = try Engine(
            program: try Program(
                source: """
                    fn f(n) { let x = f(n + 1); while 1 { x = x + 1; } return x; }
                    fn g(n) { if n == 0 { return 0; } return 1 + g(n - 1); }
                    fn main() { return f(0) + 1; }
                    """), memory: memory)
        #expect(throws: EngineError.stackOverflow) { try engine.run() }
        // The engine recovers: bounded recursion still works, deep but within the stack too.
        #expect(try engine.call("g", [1000]) == 1000)
        #expect(throws: EngineError.stackOverflow) { try engine.call("f", [0]) }
        #expect(try engine.call("g", [10]) == 10)
    }

    @Test func engineReleasesItsCodeWhenItGoesAway() throws {
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        do {
            let engine = try Engine(program: try Program(source: DemoProgram.source), memory: memory)
            #expect(memory.live.count == engine.program.functions.count)
        }
        #expect(memory.live.isEmpty)
    }

    @Test func randomProgramsMatchTheInterpreter() throws {
        let master = UInt64.random(in: 0 ... .max)
        var seeds = SplitMix64(seed: master)
        let memory = try DualMappingCodeMemory(byteCount: 64 << 20)
        for _ in 0 ..< 300 {
            let seed = seeds.next()
            var generator = RandomProgramGenerator(seed: seed)
            let source = generator.program()
            let program = try Program(source: source)
            var interpreter = Interpreter(program: program)
            let expected = try interpreter.run()
            let engine = try Engine(program: program, memory: memory)
            #expect(try engine.run() == expected, "seed \(seed) (master \(master))\n\(source)")
        }
        #expect(memory.live.isEmpty)
    }
}
#endif

#if arch(x86_64)
@Suite("ToyJIT x86-64 calling convention")
struct X86CallingConventionTests {
    /// A C-callable probe: returns a + b when its 16-byte-aligned local really is aligned,
    /// which holds only if the caller kept rsp 16-byte aligned at the call.
    private static let probe: @convention(c) (Int64, Int64) -> Int64 = { a, b in
        var vector = SIMD4<Float>(repeating: 1)
        let aligned = withUnsafeMutablePointer(to: &vector) { UInt(bitPattern: $0) % 16 == 0 }
        return aligned ? a &+ b : -1_000_000
    }

    @Test func callsKeepTheStackAlignedAtEveryDepth() throws {
        // `h` is called with an even and an odd number of temporaries on the stack.
        let program = try Program(
            source: """
                fn h(a, b) { return 0; }
                fn main() { return h(1, 2) + (h(3, 4) + (5 * h(6, 7))); }
                """)
        let header = FunctionTableLayout.headerWords
        let block = UnsafeMutablePointer<UInt>.allocate(capacity: header + 2)
        defer { block.deallocate() }
        block.initialize(repeating: 0, count: header + 2)
        let table = block + header
        block[0] = StackBounds.limitForCurrentThread()
        table[0] = unsafeBitCast(Self.probe, to: UInt.self)
        let memory = try DualMappingCodeMemory(byteCount: 1 << 16)
        let code = try Compiler.compile(program.functions[1], for: .x86_64, functionTable: UInt(bitPattern: table))
        let main = try memory.install(code, alignment: 16)
        table[1] = main
        let entry = unsafeBitCast(UnsafeRawPointer(bitPattern: main)!, to: (@convention(c) () -> Int64).self)
        #expect(entry() == 3 + 7 + 5 * 13)
    }
}
#endif
