/// The stack machine on x86-64 (System V): accumulator `rax`, scratch `rcx`, temporaries
/// pushed on the native stack, variable slot `i` at `[rbp - 8(i+1)]`. Arguments arrive in
/// rdi, rsi, rdx, rcx, r8, r9. The emitter tracks the number of pushed temporaries so it
/// can keep `rsp` 16-byte aligned at every call.
struct X86Emitter: StackMachineEmitter {
    private var assembler = X86Assembler()
    private let functionTable: UInt
    /// Temporaries currently pushed above the frame.
    private var depth = 0
    /// Returns 0 from the function; the target of overflow exits.
    private var unwind: CodeLabel

    static let argumentRegisters: [X86Register] = [.rdi, .rsi, .rdx, .rcx, .r8, .r9]

    init(functionTable: UInt) {
        self.functionTable = functionTable
        unwind = assembler.newLabel()
    }

    mutating func newLabel() -> CodeLabel { assembler.newLabel() }
    mutating func bind(_ label: CodeLabel) { assembler.bind(label) }

    private func slotDisplacement(_ slot: Int) -> Int32 { Int32(-8 * (slot + 1)) }

    mutating func prologue(parameterCount: Int, slotCount: Int) {
        assembler.push(.rbp)
        assembler.mov(.rbp, .rsp)
        // Round the frame to 16 bytes so rsp stays aligned with no temporaries pushed.
        let frame = (slotCount * 8 + 15) & ~15
        if frame > 0 { assembler.sub(.rsp, immediate: Int32(frame)) }
        // Stack check; r11 is free (not an argument register).
        let enough = newLabel()
        assembler.movabs(.r11, UInt64(functionTable))
        assembler.cmp(.rsp, base: .r11, displacement: Int32(FunctionTableLayout.stackLimitOffset))
        assembler.jump(if: .aboveOrEqual, enough)
        assembler.store(immediate: 1, base: .r11, displacement: Int32(FunctionTableLayout.overflowFlagOffset))
        assembler.jump(unwind)
        assembler.bind(enough)
        for i in 0 ..< parameterCount {
            assembler.store(X86Emitter.argumentRegisters[i], base: .rbp, displacement: slotDisplacement(i))
        }
    }

    mutating func returnAccumulator() {
        assembler.leave()
        assembler.ret()
    }

    mutating func loadConstant(_ value: Int64) { assembler.mov(.rax, immediate: value) }
    mutating func loadLocal(_ slot: Int) { assembler.load(.rax, base: .rbp, displacement: slotDisplacement(slot)) }
    mutating func storeLocal(_ slot: Int) { assembler.store(.rax, base: .rbp, displacement: slotDisplacement(slot)) }

    mutating func push() {
        assembler.push(.rax)
        depth += 1
    }

    private mutating func popLeftOperand() {
        assembler.mov(.rcx, .rax)
        assembler.pop(.rax)
        depth -= 1
    }

    mutating func popAndApply(_ op: BinaryOperator) {
        popLeftOperand()
        switch op {
        case .add: assembler.alu(.add, .rax, .rcx)
        case .subtract: assembler.alu(.sub, .rax, .rcx)
        case .multiply: assembler.imul(.rax, .rcx)
        case .divide, .remainder: divide(remainder: op == .remainder)
        case .less: compare(.less)
        case .lessOrEqual: compare(.lessOrEqual)
        case .greater: compare(.greater)
        case .greaterOrEqual: compare(.greaterOrEqual)
        case .equal: compare(.equal)
        case .notEqual: compare(.notEqual)
        case .and, .or: preconditionFailure("short-circuit operators are lowered to branches")
        }
    }

    private mutating func compare(_ condition: X86Condition) {
        assembler.alu(.cmp, .rax, .rcx)
        assembler.setAccumulator(if: condition)
    }

    /// rax = rax / rcx or rax % rcx with the language's rules for 0 and -1 divisors
    /// (`idiv` would trap on both).
    private mutating func divide(remainder: Bool) {
        let notZero = newLabel(), normal = newLabel(), done = newLabel()
        assembler.alu(.test, .rcx, .rcx)
        assembler.jump(if: .notEqual, notZero)
        if !remainder { assembler.mov(.rax, immediate: 0) } // a % 0 == a: rax already holds a
        assembler.jump(done)
        assembler.bind(notZero)
        assembler.cmp(.rcx, immediate8: -1)
        assembler.jump(if: .notEqual, normal)
        if remainder { assembler.mov(.rax, immediate: 0) } else { assembler.neg(.rax) }
        assembler.jump(done)
        assembler.bind(normal)
        assembler.cqo()
        assembler.idiv(.rcx)
        if remainder { assembler.mov(.rax, .rdx) }
        assembler.bind(done)
    }

    mutating func negate() { assembler.neg(.rax) }

    mutating func logicalNot() {
        assembler.alu(.test, .rax, .rax)
        assembler.setAccumulator(if: .equal)
    }

    mutating func normalizeBoolean() {
        assembler.alu(.test, .rax, .rax)
        assembler.setAccumulator(if: .notEqual)
    }

    mutating func jump(_ label: CodeLabel) { assembler.jump(label) }

    mutating func jumpIfZero(_ label: CodeLabel) {
        assembler.alu(.test, .rax, .rax)
        assembler.jump(if: .equal, label)
    }

    mutating func jumpIfNonZero(_ label: CodeLabel) {
        assembler.alu(.test, .rax, .rax)
        assembler.jump(if: .notEqual, label)
    }

    mutating func call(function index: Int, argumentCount: Int) {
        for i in stride(from: argumentCount - 1, through: 0, by: -1) {
            assembler.pop(X86Emitter.argumentRegisters[i])
        }
        depth -= argumentCount
        // The frame keeps rsp aligned; an odd number of temporaries needs 8 bytes of padding.
        let pad = depth % 2 == 1
        if pad { assembler.sub(.rsp, immediate: 8) }
        assembler.movabs(.r11, UInt64(functionTable))
        assembler.callIndirect(base: .r11, displacement: Int32(8 * index))
        if pad { assembler.add(.rsp, immediate: 8) }
        assembler.movabs(.r11, UInt64(functionTable))
        assembler.cmp(base: .r11, displacement: Int32(FunctionTableLayout.overflowFlagOffset), immediate8: 0)
        assembler.jump(if: .notEqual, unwind)
    }

    mutating func finish() throws(EmitError) -> [UInt8] {
        assembler.bind(unwind)
        assembler.mov(.rax, immediate: 0)
        returnAccumulator()
        return try assembler.finish()
    }
}
