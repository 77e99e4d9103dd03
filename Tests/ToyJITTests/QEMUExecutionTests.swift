import Testing
import PasTestSupport
@testable import ToyJITCore

/// Runs compiled arm64 code on a (user-mode emulated) AArch64 CPU through a generated static
/// executable, and compares it with the interpreter. Skipped when qemu-aarch64 is not installed.
@Suite(
    "ToyJIT arm64 code under qemu-aarch64", .enabled(if: QEMUHarness.available, "qemu-aarch64 is not on PATH (install qemu-user)")
)
struct QEMUExecutionTests {
    /// Runs `calls` of `program` in one qemu process and checks every outcome against the interpreter.
    private func expectMatches(_ program: Program, _ calls: [(index: Int, arguments: [Int64])], _ comment: String) throws {
        var interpreter = Interpreter(program: program)
        let expected = try calls.map { try interpreter.call($0.index, $0.arguments) }
        let outcomes = try QEMUHarness.run(
            functions: QEMUHarness.compile(program), steps: calls.map { .call($0.index, $0.arguments) })
        for (call, (outcome, want)) in zip(calls, zip(outcomes, expected)) {
            let name = program.functions[call.index].name
            #expect(
                outcome == QEMUHarness.Outcome(value: want, overflowed: false, stackDrift: 0),
                "\(name)\(call.arguments): \(comment)")
        }
    }

    @Test func harnessReportsAConstantResult() throws {
        let program = try Program(source: "fn main() { return -81985529216486895; }")
        let outcomes = try QEMUHarness.run(functions: QEMUHarness.compile(program), steps: [.call(0, []), .call(0, [])])
        let expected = QEMUHarness.Outcome(value: -81_985_529_216_486_895, overflowed: false, stackDrift: 0)
        #expect(outcomes == [expected, expected])
    }

    @Test func demoFunctionsMatchTheInterpreter() throws {
        let demo = try Program(source: DemoProgram.source)
        var calls: [(index: Int, arguments: [Int64])] = []
        for (name, arguments) in [
            ("fib", [Int64(0)]), ("fib", [1]), ("fib", [18]), ("isPrime", [97]), ("isPrime", [91]),
            ("primes", [3000]), ("collatzSteps", [27]), ("collatz", [3000]),
        ] {
            calls.append((demo.index(of: name)!, arguments))
        }
        try expectMatches(demo, calls, "demo")
    }

    @Test func everyConstructMatchesTheInterpreter() throws {
        for source in ConstructSources.all {
            let program = try Program(source: source)
            try expectMatches(program, [(program.mainIndex, [])], source)
        }
    }

    @Test func argumentsArriveInEveryRegister() throws {
        let program = try Program(
            source: """
                fn mix(a, b, c, d, e, f) { return a - 2 * b + 3 * c - 4 * d + 5 * e - 6 * f; }
                fn pick(a, b, c, d, e, f) { return (a == 1) + (b == 2) * 2 + (c == 3) * 4 + (d == 4) * 8 + (e == 5) * 16 + (f == 6) * 32; }
                fn main() { return pick(1, 2, 3, 4, 5, 6); }
                """)
        var rng = SplitMix64(seed: 0xA4C6_4000)
        var calls: [(index: Int, arguments: [Int64])] = [(1, [1, 2, 3, 4, 5, 6]), (2, [])]
        for _ in 0 ..< 8 { calls.append((0, (0 ..< 6).map { _ in Int64(bitPattern: rng.next()) })) }
        try expectMatches(program, calls, "arguments")
    }

    @Test func runawayRecursionStopsAtTheStackLimit() throws {
        let program = try Program(
            source: "fn f(n) { let x = f(n + 1); while 1 { x = x + 1; } return x; }\nfn main() { return f(0) + 1; }")
        let outcomes = try QEMUHarness.run(
            functions: QEMUHarness.compile(program), steps: [.call(program.mainIndex, []), .call(program.mainIndex, [])])
        // Every frame returns 0 once the flag is up; the harness clears the flag between calls.
        #expect(
            outcomes == [
                QEMUHarness.Outcome(value: 0, overflowed: true, stackDrift: 0),
                QEMUHarness.Outcome(value: 0, overflowed: true, stackDrift: 0),
            ])
    }

    @Test func redefinedFibonacciTakesOverThroughTheTable() throws {
        let demo = try Program(source: DemoProgram.source)
        let fib = try #require(demo.index(of: "fib"))
        let (index, fast) = try demo.resolveReplacement(source: DemoProgram.fastFib)
        #expect(index == fib)
        var interpreter = Interpreter(program: demo)
        let arguments: [Int64] = [0, 1, 2, 3, 10, 20]
        let expected = try arguments.map { try interpreter.call(fib, [$0]) }
        let calls = arguments.map { QEMUHarness.Step.call(fib, [$0]) }
        // primes(30) does not use fib; fib(60) would take minutes recursively, so only the loop runs it.
        let steps =
            calls + [.replace(fib, code: try QEMUHarness.compile(fast))] + calls + [
                .call(fib, [60]), .call(demo.index(of: "primes")!, [30]),
            ]
        let outcomes = try QEMUHarness.run(functions: QEMUHarness.compile(demo), steps: steps)
        #expect(outcomes.map(\.value) == expected + expected + [1_548_008_755_920, 10])
        #expect(outcomes.allSatisfy { !$0.overflowed && $0.stackDrift == 0 })
    }

    @Test func randomProgramsMatchTheInterpreter() throws {
        let master = UInt64.random(in: 0 ... .max)
        var seeds = SplitMix64(seed: master)
        for _ in 0 ..< 40 {
            let seed = seeds.next()
            var generator = RandomProgramGenerator(seed: seed)
            let source = generator.program()
            let program = try Program(source: source)
            // Each helper is called on its own too, with arguments from the seed.
            var calls: [(index: Int, arguments: [Int64])] = [(program.mainIndex, [])]
            var rng = SplitMix64(seed: seed)
            for (index, function) in program.functions.enumerated() where index != program.mainIndex {
                calls.append((index, (0 ..< function.parameterCount).map { _ in Int64(bitPattern: rng.next()) % 1000 }))
            }
            try expectMatches(program, calls, "seed \(seed) (master \(master))\n\(source)")
        }
    }
}
