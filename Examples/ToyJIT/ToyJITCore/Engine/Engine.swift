/// Errors of the engine itself (compile errors are `SourceError`s; code memory errors
/// propagate as thrown by the `CodeMemory`).
public enum EngineError: Error, Equatable, Sendable {
    /// The process runs on an architecture the compiler cannot target.
    case unsupportedHost
    /// `call` named a function the program does not have.
    case unknownFunction(String)
    /// `call` passed the wrong number of arguments.
    case wrongArgumentCount(function: String, expected: Int, given: Int)
    /// Compiled code ran out of stack (runaway recursion); the call was abandoned and every
    /// active compiled frame returned 0. The engine stays usable.
    case stackOverflow
}

/// Compiles a toy program for the host, installs each function separately into a
/// `CodeMemory`, and runs it.
///
/// Calls between compiled functions go through a function table: an array of entry
/// addresses in ordinary memory whose address is embedded in the code. Redefining a
/// function installs the new code, stores its address in the table and releases the old
/// code; callers are never patched. Two words below the table hold the stack limit and an
/// overflow flag, so unbounded recursion ends in `EngineError.stackOverflow`, not a crash.
///
/// Thread-safety: none; use an engine from one thread at a time, and do not redefine a
/// function while compiled code runs.
public final class Engine {
    /// The program as currently defined (redefinitions included).
    public private(set) var program: Program
    /// The architecture code is compiled for.
    public let architecture: Architecture
    private let memory: any CodeMemory
    /// Entry address of function `i`, read by compiled calls; `FunctionTableLayout` words before it.
    // Invariant: points `headerWords` entries into an allocation of headerWords + function count
    // words, owned by the engine and freed in deinit after all code is released; every entry is
    // 0 or the executable address of installed code.
    private let table: UnsafeMutablePointer<UInt>
    /// Size of each installed function, indexed like `program.functions`.
    private var sizes: [Int]

    /// The address compiled code reads entry addresses from.
    public var functionTableAddress: UInt { UInt(bitPattern: table) }

    /// Total bytes of machine code currently installed.
    public var codeByteCount: Int { sizes.reduce(0, +) }

    /// Compiles every function of `program`, installs them in `memory` and fills the table.
    /// On failure (a `SourceError` from the compiler or any error from `memory`) the code
    /// installed so far is released and the error is rethrown.
    /// Cost: linear in the program, plus one `install` per function.
    public init(program: Program, memory: any CodeMemory) throws {
        guard let host = Architecture.host else { throw EngineError.unsupportedHost }
        self.program = program
        self.architecture = host
        self.memory = memory
        let count = program.functions.count
        let words = FunctionTableLayout.headerWords + count
        let block = UnsafeMutablePointer<UInt>.allocate(capacity: words)
        block.initialize(repeating: 0, count: words)
        table = block + FunctionTableLayout.headerWords
        sizes = [Int](repeating: 0, count: count)
        do {
            for index in 0 ..< count {
                let code = try Compiler.compile(program.functions[index], for: host, functionTable: functionTableAddress)
                table[index] = try memory.install(code, alignment: 16)
                sizes[index] = code.count
            }
        } catch {
            // Every stored property is initialised, so deinit runs after this throw and
            // frees the table; only the installed code is released here.
            releaseAll()
            throw error
        }
    }

    deinit {
        releaseAll()
        (table - FunctionTableLayout.headerWords).deallocate()
    }

    /// Releases every installed function, ignoring release errors (used when tearing down).
    private func releaseAll() {
        for index in 0 ..< sizes.count where table[index] != 0 {
            try? memory.release(table[index])
            table[index] = 0
            sizes[index] = 0
        }
    }

    /// Bytes of machine code installed for function `name`, if it exists.
    public func codeByteCount(of name: String) -> Int? {
        program.index(of: name).map { sizes[$0] }
    }

    /// The executable entry address of function `name`, if it exists.
    public func entryAddress(of name: String) -> UInt? {
        program.index(of: name).map { table[$0] }
    }

    /// Runs `main` and returns its result. Cost: whatever the program does.
    public func run() throws(EngineError) -> Int64 {
        try invokeGuarded(program.mainIndex, [])
    }

    /// Calls compiled function `name` with `arguments`.
    public func call(_ name: String, _ arguments: [Int64]) throws(EngineError) -> Int64 {
        guard let index = program.index(of: name) else { throw .unknownFunction(name) }
        let expected = program.functions[index].parameterCount
        guard arguments.count == expected else {
            throw .wrongArgumentCount(function: name, expected: expected, given: arguments.count)
        }
        return try invokeGuarded(index, arguments)
    }

    private var stackLimit: UnsafeMutablePointer<UInt> {
        // Invariant: the header words lie inside the table's allocation (see `table`).
        UnsafeMutableRawPointer(table).advanced(by: FunctionTableLayout.stackLimitOffset).assumingMemoryBound(to: UInt.self)
    }

    private var overflowFlag: UnsafeMutablePointer<UInt> {
        UnsafeMutableRawPointer(table).advanced(by: FunctionTableLayout.overflowFlagOffset).assumingMemoryBound(to: UInt.self)
    }

    /// Sets the calling thread's stack limit, calls, and turns a raised overflow flag into an error.
    private func invokeGuarded(_ index: Int, _ arguments: [Int64]) throws(EngineError) -> Int64 {
        stackLimit.pointee = StackBounds.limitForCurrentThread()
        overflowFlag.pointee = 0
        let result = Engine.invoke(table[index], arguments)
        guard overflowFlag.pointee == 0 else {
            overflowFlag.pointee = 0
            throw .stackOverflow
        }
        return result
    }

    /// Replaces a function with a new definition (same name and parameter count), given as
    /// the source of one `fn`. Compiles and installs the new code, switches the table entry,
    /// then releases the old code. On a parse, compile or install error the old definition
    /// stays in place; if only the final release of the old code fails, the new definition is
    /// already active and the release error is rethrown. Cost: one compile and one install.
    public func redefine(_ source: String) throws {
        let (index, function) = try program.resolveReplacement(source: source)
        let code = try Compiler.compile(function, for: architecture, functionTable: functionTableAddress)
        let address = try memory.install(code, alignment: 16)
        let old = table[index]
        table[index] = address
        sizes[index] = code.count
        program.replace(index, with: function)
        try memory.release(old)
    }

    private typealias F0 = @convention(c) () -> Int64
    private typealias F1 = @convention(c) (Int64) -> Int64
    private typealias F2 = @convention(c) (Int64, Int64) -> Int64
    private typealias F3 = @convention(c) (Int64, Int64, Int64) -> Int64
    private typealias F4 = @convention(c) (Int64, Int64, Int64, Int64) -> Int64
    private typealias F5 = @convention(c) (Int64, Int64, Int64, Int64, Int64) -> Int64
    private typealias F6 = @convention(c) (Int64, Int64, Int64, Int64, Int64, Int64) -> Int64

    /// Calls compiled code at `address` with the C calling convention.
    private static func invoke(_ address: UInt, _ a: [Int64]) -> Int64 {
        // Invariant: `address` is the entry of installed code compiled for the host whose
        // parameter count is a.count (checked by the callers against the program).
        let pointer = UnsafeRawPointer(bitPattern: address)!
        switch a.count {
        case 0: return unsafeBitCast(pointer, to: F0.self)()
        case 1: return unsafeBitCast(pointer, to: F1.self)(a[0])
        case 2: return unsafeBitCast(pointer, to: F2.self)(a[0], a[1])
        case 3: return unsafeBitCast(pointer, to: F3.self)(a[0], a[1], a[2])
        case 4: return unsafeBitCast(pointer, to: F4.self)(a[0], a[1], a[2], a[3])
        case 5: return unsafeBitCast(pointer, to: F5.self)(a[0], a[1], a[2], a[3], a[4])
        case 6: return unsafeBitCast(pointer, to: F6.self)(a[0], a[1], a[2], a[3], a[4], a[5])
        default: preconditionFailure("at most \(Limits.maximumParameters) parameters")
        }
    }
}
