/// A forward or backward branch target inside one function's code.
struct CodeLabel: Hashable {
    let id: Int
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
    /// Sets up a frame with `slotCount` variable slots and stores the parameters in slots 0...
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
    /// Calls function `index` through the table with `argumentCount` pushed arguments.
    mutating func call(function index: Int, argumentCount: Int)
    /// Resolves labels and returns the code.
    mutating func finish() throws(EmitError) -> [UInt8]
}
