/// The stack machine on AArch64 (AAPCS64): accumulator `x0`, scratch `x1`/`x2`,
/// temporaries pushed 16 bytes each so `sp` stays aligned, `x29` as frame pointer.
///
/// Frame, from high to low addresses: variable slots (slot `i` at `[x29 + 16 + 8i]`),
/// saved x29/x30 at `[x29]`, then pushed temporaries. Arguments arrive in x0...x5.
struct ARM64Emitter: StackMachineEmitter {
    private var assembler = ARM64Assembler()
    private let functionTable: UInt
    private var frameSize: UInt32 = 0
    /// Returns 0 from the function; the target of overflow exits.
    private var unwind: CodeLabel

    private static let accumulator = ARM64Register.x(0)
    private static let scratch = ARM64Register.x(1)
    /// The intra-procedure-call register that holds the callee's address.
    private static let callTarget = ARM64Register.x(16)

    init(functionTable: UInt) {
        self.functionTable = functionTable
        unwind = assembler.newLabel()
    }

    mutating func newLabel() -> CodeLabel { assembler.newLabel() }
    mutating func bind(_ label: CodeLabel) { assembler.bind(label) }

    private func slotOffset(_ slot: Int) -> Int { 16 + 8 * slot }

    mutating func prologue(parameterCount: Int, slotCount: Int) {
        // Limits.maximumSlots keeps this under the 12-bit immediate.
        frameSize = UInt32((slotCount * 8 + 15) & ~15)
        if frameSize > 0 { assembler.sub(.sp, .sp, immediate: frameSize) }
        assembler.stpPreIndex(.fp, .lr, .sp, offset: -16)
        assembler.add(.fp, .sp, immediate: 0)
        // Stack check with x9, x16 and x17, which hold no arguments.
        let enough = newLabel()
        assembler.move(Self.callTarget, immediate: UInt64(functionTable))
        assembler.ldur(.x(17), Self.callTarget, offset: FunctionTableLayout.stackLimitOffset)
        assembler.add(.x(9), .sp, immediate: 0)
        assembler.cmp(.x(9), .x(17))
        assembler.b(.hs, enough)
        assembler.movz(.x(17), 1)
        assembler.stur(.x(17), Self.callTarget, offset: FunctionTableLayout.overflowFlagOffset)
        assembler.b(unwind)
        assembler.bind(enough)
        for i in 0 ..< parameterCount {
            assembler.str(.x(UInt32(i)), .fp, offset: slotOffset(i))
        }
    }

    mutating func returnAccumulator() {
        assembler.add(.sp, .fp, immediate: 0)
        assembler.ldpPostIndex(.fp, .lr, .sp, offset: 16)
        if frameSize > 0 { assembler.add(.sp, .sp, immediate: frameSize) }
        assembler.ret()
    }

    mutating func loadConstant(_ value: Int64) {
        assembler.move(Self.accumulator, immediate: UInt64(bitPattern: value))
    }

    mutating func loadLocal(_ slot: Int) { assembler.ldr(Self.accumulator, .fp, offset: slotOffset(slot)) }
    mutating func storeLocal(_ slot: Int) { assembler.str(Self.accumulator, .fp, offset: slotOffset(slot)) }

    mutating func push() { assembler.strPreIndex(Self.accumulator, .sp, offset: -16) }

    mutating func popAndApply(_ op: BinaryOperator) {
        let a = Self.scratch, b = Self.accumulator
        assembler.ldrPostIndex(a, .sp, offset: 16)
        switch op {
        case .add: assembler.add(b, a, b)
        case .subtract: assembler.sub(b, a, b)
        case .multiply: assembler.mul(b, a, b)
        // sdiv already gives a / 0 == 0 and INT64_MIN / -1 == INT64_MIN.
        case .divide: assembler.sdiv(b, a, b)
        // a - (a / b) * b: a % 0 == a, INT64_MIN % -1 == 0.
        case .remainder:
            assembler.sdiv(.x(2), a, b)
            assembler.msub(b, .x(2), b, a)
        case .less: compare(.lt)
        case .lessOrEqual: compare(.le)
        case .greater: compare(.gt)
        case .greaterOrEqual: compare(.ge)
        case .equal: compare(.eq)
        case .notEqual: compare(.ne)
        case .and, .or: preconditionFailure("short-circuit operators are lowered to branches")
        }
    }

    private mutating func compare(_ condition: ARM64Condition) {
        assembler.cmp(Self.scratch, Self.accumulator)
        assembler.cset(Self.accumulator, condition)
    }

    mutating func negate() { assembler.neg(Self.accumulator, Self.accumulator) }

    mutating func logicalNot() {
        assembler.cmp(Self.accumulator, immediate: 0)
        assembler.cset(Self.accumulator, .eq)
    }

    mutating func normalizeBoolean() {
        assembler.cmp(Self.accumulator, immediate: 0)
        assembler.cset(Self.accumulator, .ne)
    }

    mutating func jump(_ label: CodeLabel) { assembler.b(label) }
    mutating func jumpIfZero(_ label: CodeLabel) { assembler.cbz(Self.accumulator, label) }
    mutating func jumpIfNonZero(_ label: CodeLabel) { assembler.cbnz(Self.accumulator, label) }

    mutating func call(function index: Int, argumentCount: Int) {
        for i in stride(from: argumentCount - 1, through: 0, by: -1) {
            assembler.ldrPostIndex(.x(UInt32(i)), .sp, offset: 16)
        }
        assembler.move(Self.callTarget, immediate: UInt64(functionTable))
        assembler.ldr(Self.callTarget, Self.callTarget, offset: 8 * index)
        assembler.blr(Self.callTarget)
        assembler.move(Self.callTarget, immediate: UInt64(functionTable))
        assembler.ldur(.x(17), Self.callTarget, offset: FunctionTableLayout.overflowFlagOffset)
        assembler.cbnz(.x(17), unwind)
    }

    mutating func finish() throws(EmitError) -> [UInt8] {
        assembler.bind(unwind)
        loadConstant(0)
        returnAccumulator()
        return try assembler.finish()
    }
}
