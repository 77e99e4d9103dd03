/// Failures of the reference interpreter at run time.
public enum InterpreterError: Error, Equatable, Sendable {
    /// Calls nested deeper than the interpreter's limit.
    case callDepthExceeded(limit: Int)
    /// The thread's stack is nearly used up (deep recursion before the depth limit).
    case stackExhausted
}

/// The arithmetic of the toy language, shared by the interpreter and the compilers' tests.
public enum ToyArithmetic {
    /// Applies a non-short-circuit binary operator with the language's defined semantics.
    @inlinable
    public static func apply(_ op: BinaryOperator, _ a: Int64, _ b: Int64) -> Int64 {
        switch op {
        case .add: return a &+ b
        case .subtract: return a &- b
        case .multiply: return a &* b
        case .divide: return b == 0 ? 0 : (b == -1 ? 0 &- a : a / b)
        case .remainder: return b == 0 ? a : (b == -1 ? 0 : a % b)
        case .less: return a < b ? 1 : 0
        case .lessOrEqual: return a <= b ? 1 : 0
        case .greater: return a > b ? 1 : 0
        case .greaterOrEqual: return a >= b ? 1 : 0
        case .equal: return a == b ? 1 : 0
        case .notEqual: return a != b ? 1 : 0
        case .and: return (a != 0 && b != 0) ? 1 : 0
        case .or: return (a != 0 || b != 0) ? 1 : 0
        }
    }
}

/// Tree-walking interpreter: the reference semantics the compiled code must match.
/// Cost: proportional to the work the program does. Thread-safety: a value; use one per thread.
public struct Interpreter {
    /// The program being run.
    public let program: Program
    /// Maximum nesting of calls before `callDepthExceeded` is thrown.
    public let maximumDepth: Int
    private var depth = 0
    /// Lowest stack address a new call may start at; set when the outermost call begins.
    private var stackLimit: UInt = 0
    /// Stack kept free below the limit for the frames of one call's expressions.
    private static let stackReserve: UInt = 512 << 10

    /// Creates an interpreter for `program`.
    public init(program: Program, maximumDepth: Int = 2000) {
        self.program = program
        self.maximumDepth = maximumDepth
    }

    /// Runs `main` and returns its result.
    public mutating func run() throws(InterpreterError) -> Int64 {
        try call(program.mainIndex, [])
    }

    /// Calls function `index` with `arguments` (one per parameter).
    public mutating func call(_ index: Int, _ arguments: [Int64]) throws(InterpreterError) -> Int64 {
        let function = program.functions[index]
        precondition(arguments.count == function.parameterCount, "wrong argument count for '\(function.name)'")
        guard depth < maximumDepth else { throw .callDepthExceeded(limit: maximumDepth) }
        var marker = 0
        let here = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
        if depth == 0 { stackLimit = StackBounds.limitForCurrentThread() + Interpreter.stackReserve }
        guard here > stackLimit else { throw .stackExhausted }
        depth += 1
        defer { depth -= 1 }
        var frame = [Int64](repeating: 0, count: max(function.slotCount, 1))
        for (i, value) in arguments.enumerated() { frame[i] = value }
        return try execute(function.body, &frame) ?? 0
    }

    /// Runs statements; returns the value of a `return`, or nil when control falls through.
    private mutating func execute(_ statements: [Statement], _ frame: inout [Int64]) throws(InterpreterError) -> Int64? {
        for statement in statements {
            switch statement {
            case let .store(slot, value):
                frame[slot] = try evaluate(value, &frame)
            case let .if(condition, then, otherwise):
                let branch = try evaluate(condition, &frame) != 0 ? then : otherwise
                if let result = try execute(branch, &frame) { return result }
            case let .while(condition, body):
                while try evaluate(condition, &frame) != 0 {
                    if let result = try execute(body, &frame) { return result }
                }
            case let .return(value):
                return try evaluate(value, &frame)
            case let .evaluate(value):
                _ = try evaluate(value, &frame)
            }
        }
        return nil
    }

    private mutating func evaluate(_ expression: Expression, _ frame: inout [Int64]) throws(InterpreterError) -> Int64 {
        switch expression {
        case let .constant(value):
            return value
        case let .local(slot):
            return frame[slot]
        case let .call(index, arguments):
            var values: [Int64] = []
            for argument in arguments { values.append(try evaluate(argument, &frame)) }
            return try call(index, values)
        case let .unary(.negate, operand):
            return 0 &- (try evaluate(operand, &frame))
        case let .unary(.not, operand):
            return try evaluate(operand, &frame) == 0 ? 1 : 0
        case let .binary(.and, left, right):
            guard try evaluate(left, &frame) != 0 else { return 0 }
            return try evaluate(right, &frame) != 0 ? 1 : 0
        case let .binary(.or, left, right):
            guard try evaluate(left, &frame) == 0 else { return 1 }
            return try evaluate(right, &frame) != 0 ? 1 : 0
        case let .binary(op, left, right):
            let a = try evaluate(left, &frame)
            let b = try evaluate(right, &frame)
            return ToyArithmetic.apply(op, a, b)
        }
    }
}
