import Testing
@testable import ToyJITCore

@Suite("ToyJIT front end and interpreter")
struct FrontEndTests {
    private func errorText(_ source: String) -> String? {
        do {
            _ = try Program(source: source)
            return nil
        } catch {
            return error.description
        }
    }

    private func interpret(_ source: String) throws -> Int64 {
        var interpreter = Interpreter(program: try Program(source: source))
        return try interpreter.run()
    }

    @Test func syntaxErrorsReportLineAndColumn() {
        #expect(errorText("fn main() { return 1 }") == "1:22: expected ';', found '}'")
        #expect(errorText("fn main() {\n  let = 3;\n}") == "2:7: expected a name, found '='")
        #expect(errorText("fn main() {\n  return 1 @ 2;\n}") == "2:12: unexpected character '@'")
        #expect(errorText("fn main() { return 99999999999999999999; }") == "1:20: integer literal too large")
        #expect(errorText("fn main() { return (1 + 2; }") == "1:26: expected ')', found ';'")
        #expect(errorText("fn main() { if 1 { return 2; }") == "1:31: expected '}', found end of input")
        #expect(errorText("main() {}") == "1:1: expected 'fn', found 'main'")
        #expect(
            errorText("fn main() { return " + String(repeating: "(", count: 500) + "1; }").map {
                $0.hasSuffix("nesting too deep")
            } == true)
        #expect(
            errorText("fn main() { return " + String(repeating: "-", count: 500) + "1; }").map {
                $0.hasSuffix("nesting too deep")
            } == true)
    }

    @Test func nameErrorsReportLineAndColumn() {
        #expect(errorText("fn main() {\n  return x;\n}") == "2:10: undefined variable 'x'")
        #expect(errorText("fn main() {\n  y = 1;\n}") == "2:3: undefined variable 'y'")
        #expect(errorText("fn main() { return g(1); }") == "1:20: undefined function 'g'")
        #expect(errorText("fn f(a) { return a; }\nfn main() { return f(1, 2); }") == "2:20: 'f' takes 1 argument(s), given 2")
        #expect(
            errorText("fn f() { return 1; }\nfn f() { return 2; }\nfn main() { return 0; }")
                == "2:4: function 'f' is already defined")
        #expect(errorText("fn f() { return 1; }") == "1:1: no function 'main'")
        #expect(errorText("fn main(a) { return a; }") == "1:4: 'main' must take no parameters")
        #expect(errorText("fn main() { let a = 1; let a = 2; return a; }") == "1:28: 'a' is already defined in this block")
        #expect(
            errorText("fn f(a, b, c, d, e, f, g) { return 0; }\nfn main() { return 0; }") == "1:4: 'f' has more than 6 parameters"
        )
        // A block's bindings end with the block.
        #expect(errorText("fn main() { if 1 { let a = 1; } return a; }") == "1:40: undefined variable 'a'")
    }

    @Test func tooManyVariablesIsASourceError() {
        let lets = (0 ... Limits.maximumSlots).map { "let v\($0) = \($0);" }.joined(separator: "\n")
        let text = errorText("fn main() {\n\(lets)\nreturn 0; }")
        #expect(text == "\(Limits.maximumSlots + 2):5: too many variables (at most \(Limits.maximumSlots) per function)")
    }

    @Test func tooManyFunctionsIsASourceError() {
        let functions = (0 ... Limits.maximumFunctions).map { "fn f\($0)() { return \($0); }" }
        let text = errorText(functions.joined(separator: "\n"))
        #expect(text == "\(Limits.maximumFunctions + 1):4: too many functions (at most \(Limits.maximumFunctions))")
    }

    @Test func interpreterEvaluatesEveryConstruct() throws {
        #expect(try interpret("fn main() { return 1 + 2 * 3 - 4; }") == 3)
        #expect(try interpret("fn main() { return (1 + 2) * 3; }") == 9)
        #expect(try interpret("fn main() { return 7 / 2 + 7 % 2 * 10 + -7 / 2 * 100 + -7 % 2 * 1000; }") == 3 + 10 - 300 - 1000)
        #expect(
            try interpret(
                "fn main() { return (1 < 2) + (2 <= 2) * 2 + (3 > 4) * 4 + (4 >= 5) * 8 + (5 == 5) * 16 + (5 != 5) * 32; }") == 19
        )
        #expect(try interpret("fn main() { return !0 + !7 * 2 + (3 && 4) * 4 + (0 || 5) * 8 + (0 && 1) + (0 || 0); }") == 13)
        #expect(try interpret("fn main() { let x = 0; let i = 0; while i < 10 { x = x + i; i = i + 1; } return x; }") == 45)
        #expect(try interpret("fn main() { let x = 5; if x > 3 { x = 1; } else { x = 2; } return x; }") == 1)
        #expect(
            try interpret("fn main() { let x = 2; if x > 3 { x = 1; } else if x > 1 { x = 7; } else { x = 2; } return x; }") == 7)
        #expect(try interpret("fn main() { let x = 1; if 1 { let x = 5; x = x + 1; } return x; }") == 1)
        #expect(try interpret("fn main() { 1 + 2; }") == 0)
        #expect(try interpret("fn main() { return; }") == 0)
        #expect(
            try interpret("fn fib(n) { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }\nfn main() { return fib(15); }")
                == 610)
        #expect(
            try interpret(
                "fn even(n) { if n == 0 { return 1; } return odd(n - 1); }\nfn odd(n) { if n == 0 { return 0; } return even(n - 1); }\nfn main() { return even(10) * 10 + odd(7); }"
            ) == 11)
    }

    @Test func arithmeticHasDefinedEdgeCases() throws {
        #expect(try interpret("fn main() { return 5 / 0; }") == 0)
        #expect(try interpret("fn main() { return 5 % 0; }") == 5)
        #expect(try interpret("fn main() { return (-9223372036854775807 - 1) / -1; }") == Int64.min)
        #expect(try interpret("fn main() { return (-9223372036854775807 - 1) % -1; }") == 0)
        #expect(try interpret("fn main() { return 9223372036854775807 + 1; }") == Int64.min)
        #expect(try interpret("fn main() { return -(-9223372036854775807 - 1); }") == Int64.min)
        #expect(try interpret("fn main() { return 4611686018427387904 * 4; }") == 0)
        for (a, b) in [(Int64(7), Int64(3)), (-7, 3), (7, -3), (-7, -3), (5, 0), (.min, -1), (.min, 0)] {
            #expect(ToyArithmetic.apply(.divide, a, b) &* b &+ ToyArithmetic.apply(.remainder, a, b) == a, "\(a), \(b)")
        }
    }

    @Test func shortCircuitSkipsTheRightSide() throws {
        // The right side would recurse forever (and exceed the depth limit) if evaluated.
        let source = "fn loop() { return loop(); }\nfn main() { return (0 && loop()) + (1 || loop()) * 2; }"
        #expect(try interpret(source) == 2)
    }

    @Test func interpreterBoundsRecursion() throws {
        var interpreter = Interpreter(
            program: try Program(source: "fn f(n) { return f(n + 1); }\nfn main() { return f(0); }"), maximumDepth: 100)
        #expect(throws: InterpreterError.callDepthExceeded(limit: 100)) { try interpreter.run() }
        // The default limit is reached before the thread's stack runs out, even in debug builds
        // and with large expressions in every frame.
        let deep = try Program(
            source: "fn f(n) { let a = n; return (a + (a * (a - (a / (1 + f(n + 1)))))); }\nfn main() { return f(0); }")
        var standard = Interpreter(program: deep)
        #expect(throws: InterpreterError.self) { try standard.run() }
        var unlimited = Interpreter(program: deep, maximumDepth: .max)
        #expect(throws: InterpreterError.stackExhausted) { try unlimited.run() }
    }

    @Test func demoProgramParsesAndHasItsEntryPoints() throws {
        let program = try Program(source: DemoProgram.source)
        for (name, arguments) in DemoProgram.showcase {
            let index = try #require(program.index(of: name))
            #expect(program.functions[index].parameterCount == arguments.count)
        }
        var interpreter = Interpreter(program: program)
        #expect(try interpreter.call(program.index(of: "fib")!, [20]) == 6765)
        #expect(try interpreter.call(program.index(of: "primes")!, [100]) == 25)
        #expect(try interpreter.call(program.index(of: "collatz")!, [10]) == 9)
    }

    @Test func fastFibonacciAgreesWithTheRecursiveOne() throws {
        let demo = try Program(source: DemoProgram.source)
        let fib = try #require(demo.index(of: "fib"))
        var replaced = demo
        let (index, fast) = try demo.resolveReplacement(source: DemoProgram.fastFib)
        #expect(index == fib)
        replaced.replace(index, with: fast)
        var slow = Interpreter(program: demo), quick = Interpreter(program: replaced)
        for n: Int64 in [-3, 0, 1, 2, 3, 7, 15, 20] {
            #expect(try quick.call(fib, [n]) == slow.call(fib, [n]), "fib(\(n))")
        }
        #expect(try quick.call(fib, [50]) == 12_586_269_025)
    }
}
