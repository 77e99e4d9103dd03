import Foundation
import PasJIT
import PasSystem
import ToyJITCore

// toyjit: compile a toy program to machine code in a JITHeap and run it.

let usage = """
    usage: toyjit [options] [SOURCE]
      SOURCE            program text (default: the built-in demo); or --file PATH
      --file PATH       read the program from PATH
      --call NAME ARGS  call NAME with integer arguments instead of main
      --interpret       run the tree-walking interpreter instead of compiled code
      --compare         run both, check they agree, and time them
      --arch arm64|x86_64 --emit
                        print the encoded machine code of every function (and its
                        disassembly when llvm-objdump is on PATH)
      --mode dualMapped|rwx|toggled
                        protection mode of the code region (default dualMapped)
      --stats           print the JIT heap's statistics
      --bench           time compilation per function, and compiled code against the
                        interpreter on a loop-heavy program (use a release build:
                        swift run -c release toyjit --bench)
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
    exit(1)
}

func timed<T>(_ body: () -> T) -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let v = body()
    return (v, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
}

@main
enum ToyJITCommand {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        var source: String? = nil
        var callName: String? = nil
        var callArgs: [Int64] = []
        var interpret = false, compare = false, emit = false, stats = false, bench = false
        var arch: Architecture? = nil
        var mode = ProtectionMode.dualMapped

        var i = 0
        while i < args.count {
            let a = args[i]
            func value() -> String {
                i += 1
                guard i < args.count else { fail("\(a) needs a value\n\(usage)") }
                return args[i]
            }
            switch a {
            case "--file":
                let path = value()
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
                source = text
            case "--call":
                callName = value()
                while i + 1 < args.count, let n = Int64(args[i + 1]) { callArgs.append(n); i += 1 }
            case "--interpret": interpret = true
            case "--compare": compare = true
            case "--emit": emit = true
            case "--stats": stats = true
            case "--bench": bench = true
            case "--arch":
                guard let a = Architecture(rawValue: value()) else { fail("unknown architecture; use arm64 or x86_64") }
                arch = a
            case "--mode":
                guard let m = ProtectionMode(rawValue: value()) else { fail("unknown mode; use dualMapped, rwx or toggled") }
                mode = m
            case "-h", "--help": print(usage); exit(0)
            default:
                if a.hasPrefix("--") { fail("unknown option \(a)\n\(usage)") }
                source = a
            }
            i += 1
        }

        let isDemo = source == nil
        let text = source ?? DemoProgram.source
        let program: Program
        do { program = try Program(source: text) } catch { fail("error: \(error)") }

        if bench {
            runBenchmark(mode: mode)
            exit(0)
        }

        if emit {
            let target = arch ?? Architecture.host ?? .x86_64
            for function in program.functions {
                let code: [UInt8]
                do { code = try Compiler.compile(function, for: target, functionTable: 0x1000) } catch { fail("error: \(error)") }
                print("\(function.name): \(code.count) bytes (\(target.rawValue))")
                print(Disassembly.hexLines(code))
                if let listing = Disassembly.objdump(code, architecture: target) { print(listing) }
            }
            exit(0)
        }

        func interpretRun() -> Int64 {
            var interpreter = Interpreter(program: program)
            do {
                if let callName {
                    guard let index = program.index(of: callName) else { fail("error: no function named \(callName)") }
                    return try interpreter.call(index, callArgs)
                }
                return try interpreter.run()
            } catch { fail("error: \(error)") }
        }

        if interpret {
            print(interpretRun())
            exit(0)
        }

        let heap: JITHeap
        do { heap = try JITHeap(options: .mode(mode, regionSize: 64 << 20)) } catch {
            fail("error: cannot create the JIT heap: \(error)")
        }
        let memory = JITHeapCodeMemory(heap: heap)
        let engine: Engine
        do { engine = try Engine(program: program, memory: memory) } catch { fail("error: \(error)") }

        func compiledRun() -> Int64 {
            do {
                if let callName { return try engine.call(callName, callArgs) }
                return try engine.run()
            } catch { fail("error: \(error)") }
        }

        if isDemo && callName == nil {
            print("toyjit: the built-in demo, compiled for \(engine.architecture.rawValue) into a JITHeap")
            print("protection mode: \(heap.protectionMode)")
            print("code: \(program.functions.count) functions, \(engine.codeByteCount) bytes")
            for (name, arguments) in DemoProgram.showcase {
                let (v, ms) = timed { (try? engine.call(name, arguments)) ?? 0 }
                print(
                    "  \(name)(\(arguments.map(String.init).joined(separator: ", "))) = \(v)   [\(String(format: "%.2f", ms)) ms]"
                )
            }
            // Tiering: recompile fib as a loop; the old code is freed (and filled with traps).
            let before = heap.statistics
            do {
                try engine.redefine(DemoProgram.fastFib)
            } catch { fail("error: \(error)") }
            let (v, ms) = timed { (try? engine.call("fib", [25])) ?? 0 }
            print(
                "redefined fib as a loop: fib(25) = \(v)   [\(String(format: "%.3f", ms)) ms]; code now \(engine.codeByteCount) bytes"
            )
            let (iv, ims) = timed { interpretRun() }
            print("interpreter: main() = \(iv)   [\(String(format: "%.2f", ims)) ms]")
            print("heap before redefinition: \(before)")
            print("heap now:                 \(heap.statistics)")
            exit(0)
        }

        if compare {
            let (c, cms) = timed { compiledRun() }
            let (v, ims) = timed { interpretRun() }
            print("compiled: \(c) [\(String(format: "%.3f", cms)) ms]  interpreted: \(v) [\(String(format: "%.3f", ims)) ms]")
            if c != v { fail("MISMATCH") }
        } else {
            print(compiledRun())
        }
        if stats { print(heap.statistics) }

    }
}

/// `toyjit --bench`: compile time per function (median of 200 compilations + installs) and the
/// speed of compiled code against the interpreter on loop-heavy calls.
func runBenchmark(mode: ProtectionMode) {
    #if DEBUG
    print("note: a debug build; run `swift run -c release toyjit --bench` for meaningful figures")
    #endif
    guard let host = Architecture.host else { fail("toyjit --bench needs an x86-64 or arm64 host") }
    let program: Program
    do { program = try Program(source: DemoProgram.source) } catch { fail("error: \(error)") }
    let heap: JITHeap
    do { heap = try JITHeap(options: .mode(mode, regionSize: 64 << 20)) } catch { fail("error: \(error)") }
    print("compile + install per function (\(host.rawValue), \(heap.protectionMode)), median of 200:")
    for function in program.functions {
        var samples: [Double] = []
        var bytes = 0
        for _ in 0 ..< 200 {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let code = try? Compiler.compile(function, for: host, functionTable: 0x1000),
                let block = try? heap.install(code)
            else { fail("error: compiling \(function.name) failed") }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
            bytes = code.count
            try? heap.deallocate(block)
        }
        samples.sort()
        print("  \(function.name): \(bytes) bytes, \(String(format: "%.1f", samples[samples.count / 2])) µs")
    }
    let engine: Engine
    do { engine = try Engine(program: program, memory: JITHeapCodeMemory(heap: heap)) } catch { fail("error: \(error)") }
    print("compiled vs interpreted (median of 5):")
    for (name, arguments) in [("primes", [Int64(30000)]), ("collatz", [Int64(20000)]), ("fib", [Int64(22)])] {
        guard let index = program.index(of: name) else { continue }
        var jit: [Double] = [], interp: [Double] = []
        var a: Int64 = 0, b: Int64 = 0
        for _ in 0 ..< 5 {
            let (v, ms) = timed { (try? engine.call(name, arguments)) ?? -1 }
            var interpreter = Interpreter(program: program, maximumDepth: 10_000)
            let (w, ims) = timed { (try? interpreter.call(index, arguments)) ?? -2 }
            jit.append(ms); interp.append(ims); a = v; b = w
        }
        jit.sort(); interp.sort()
        let j = jit[2], i = interp[2]
        print(
            "  \(name)(\(arguments[0])) = \(a): compiled \(String(format: "%.3f", j)) ms, interpreted \(String(format: "%.3f", i)) ms, \(String(format: "%.0f", i / max(j, 0.000_001)))x\(a == b ? "" : "  MISMATCH \(b)")"
        )
    }
}
