/// Instruction sets the compiler targets.
public enum Architecture: String, Sendable, CaseIterable {
    /// x86-64, System V calling convention.
    case x86_64
    /// AArch64, AAPCS64 calling convention.
    case arm64

    /// The architecture this process runs on, or nil when the compiler cannot target it.
    public static var host: Architecture? {
        #if arch(x86_64)
        return .x86_64
        #elseif arch(arm64)
        return .arm64
        #else
        return nil
        #endif
    }
}

/// Compiles resolved functions to machine code.
///
/// Each function becomes a position-independent, C-callable routine
/// (`Int64 f(Int64, ...)` under the target's standard calling convention). A call to
/// function `i` loads the entry address from `functionTable[i]` (a table of `UInt` whose
/// address is embedded in the code) and calls it indirectly, so a callee can be replaced
/// by storing a new address in its table entry. Thread-safety: stateless.
public enum Compiler {
    /// Returns the machine code of `function` for `architecture`.
    /// Throws a `SourceError` at the function when its code exceeds a branch range.
    /// Cost: linear in the function's size.
    public static func compile(_ function: Function, for architecture: Architecture, functionTable: UInt) throws(SourceError)
        -> [UInt8]
    {
        switch architecture {
        case .x86_64:
            var generator = CodeGenerator(emitter: X86Emitter(functionTable: functionTable))
            return try generator.compile(function)
        case .arm64:
            var generator = CodeGenerator(emitter: ARM64Emitter(functionTable: functionTable))
            return try generator.compile(function)
        }
    }
}

/// Walks a resolved function and drives a target's stack-machine emitter.
struct CodeGenerator<Emitter: StackMachineEmitter> {
    var emitter: Emitter

    mutating func compile(_ function: Function) throws(SourceError) -> [UInt8] {
        emitter.prologue(parameterCount: function.parameterCount, slotCount: function.slotCount)
        for statement in function.body { emit(statement) }
        emitter.loadConstant(0)
        emitter.returnAccumulator()
        do {
            return try emitter.finish()
        } catch {
            throw SourceError("function '\(function.name)' is too large for its branches", at: function.location)
        }
    }

    private mutating func emit(_ statement: Statement) {
        switch statement {
        case let .store(slot, value):
            emit(value)
            emitter.storeLocal(slot)
        case let .if(condition, then, otherwise):
            let elseLabel = emitter.newLabel()
            let end = emitter.newLabel()
            emit(condition)
            emitter.jumpIfZero(elseLabel)
            for s in then { emit(s) }
            emitter.jump(end)
            emitter.bind(elseLabel)
            for s in otherwise { emit(s) }
            emitter.bind(end)
        case let .while(condition, body):
            let top = emitter.newLabel()
            let end = emitter.newLabel()
            emitter.bind(top)
            emit(condition)
            emitter.jumpIfZero(end)
            for s in body { emit(s) }
            emitter.jump(top)
            emitter.bind(end)
        case let .return(value):
            emit(value)
            emitter.returnAccumulator()
        case let .evaluate(value):
            emit(value)
        }
    }

    private mutating func emit(_ expression: Expression) {
        switch expression {
        case let .constant(value):
            emitter.loadConstant(value)
        case let .local(slot):
            emitter.loadLocal(slot)
        case let .call(index, arguments):
            for argument in arguments {
                emit(argument)
                emitter.push()
            }
            emitter.call(function: index, argumentCount: arguments.count)
        case let .unary(.negate, operand):
            emit(operand)
            emitter.negate()
        case let .unary(.not, operand):
            emit(operand)
            emitter.logicalNot()
        case let .binary(.and, left, right):
            // A zero left side is already the result.
            let end = emitter.newLabel()
            emit(left)
            emitter.jumpIfZero(end)
            emit(right)
            emitter.normalizeBoolean()
            emitter.bind(end)
        case let .binary(.or, left, right):
            let end = emitter.newLabel()
            emit(left)
            emitter.normalizeBoolean()
            emitter.jumpIfNonZero(end)
            emit(right)
            emitter.normalizeBoolean()
            emitter.bind(end)
        case let .binary(op, left, right):
            emit(left)
            emitter.push()
            emit(right)
            emitter.popAndApply(op)
        }
    }
}
