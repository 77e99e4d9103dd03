/// A forward or backward branch target inside one function's code.
struct CodeLabel: Hashable {
    let id: Int
}

/// Words the engine keeps just below entry 0 of the function table, read and written by
/// compiled code to stop runaway recursion without a crash.
enum FunctionTableLayout {
    /// Byte offset from entry 0 of the lowest stack address a compiled prologue accepts.
    static let stackLimitOffset = -16
    /// Byte offset from entry 0 of the overflow flag: compiled code sets it to 1 when a
    /// prologue finds the stack below the limit, and every caller then returns 0 at once.
    static let overflowFlagOffset = -8
    /// Words reserved before entry 0.
    static let headerWords = 2
}

/// Why machine code could not be produced for a function.
enum EmitError: Error {
    /// A branch does not reach its label with the target's displacement field.
    case branchOutOfRange
}

/// The instructions of a simple accumulator + stack machine, as each target implements them.
///
/// The accumulator holds the latest value; `push` saves it on the machine stack, binary
/// operations pop their left operand from there and take the right one from the accumulator.
/// Calls pop their arguments (pushed first to last) and leave the result in the accumulator.
/// Every label is bound at a point with the same stack depth as every jump to it.
protocol StackMachineEmitter {
    /// Creates an emitter whose calls go through the table of entry addresses at `functionTable`.
    init(functionTable: UInt)
    mutating func newLabel() -> CodeLabel
    mutating func bind(_ label: CodeLabel)
    /// Sets up a frame with `slotCount` variable slots, checks the stack limit (setting the
    /// overflow flag and returning 0 when it is exceeded) and stores the parameters in slots 0...
    mutating func prologue(parameterCount: Int, slotCount: Int)
    /// Tears the frame down and returns the accumulator.
    mutating func returnAccumulator()
    mutating func loadConstant(_ value: Int64)
    mutating func loadLocal(_ slot: Int)
    mutating func storeLocal(_ slot: Int)
    mutating func push()
    /// accumulator = popped `op` accumulator, for every operator except `&&` and `||`.
    mutating func popAndApply(_ op: BinaryOperator)
    mutating func negate()
    /// accumulator = accumulator == 0 ? 1 : 0
    mutating func logicalNot()
    /// accumulator = accumulator != 0 ? 1 : 0
    mutating func normalizeBoolean()
    mutating func jump(_ label: CodeLabel)
    mutating func jumpIfZero(_ label: CodeLabel)
    mutating func jumpIfNonZero(_ label: CodeLabel)
    /// Calls function `index` through the table with `argumentCount` pushed arguments, then
    /// returns 0 at once if the callee set the overflow flag.
    mutating func call(function index: Int, argumentCount: Int)
    /// Resolves labels and returns the code.
    mutating func finish() throws(EmitError) -> [UInt8]
}
