/// General-purpose x86-64 registers, numbered as in the ModRM encoding.
enum X86Register: UInt8 {
    case rax = 0, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15

    var low: UInt8 { rawValue & 7 }
    var isExtended: Bool { rawValue >= 8 }
}

/// Condition codes (the low nibble of `Jcc`/`SETcc` opcodes).
enum X86Condition: UInt8 {
    case below = 0x2, aboveOrEqual = 0x3, equal = 0x4, notEqual = 0x5, less = 0xC, greaterOrEqual = 0xD, lessOrEqual = 0xE,
        greater = 0xF
}

/// Encodes the few 64-bit x86 instructions the toy compiler needs into a byte buffer,
/// with rel32 branches to labels patched in `finish`.
/// Thread-safety: a value; use one per thread.
struct X86Assembler {
    private(set) var bytes: [UInt8] = []
    private var labelOffsets: [Int?] = []
    /// (offset of the rel32 field, label); the displacement is relative to the field's end.
    private var fixups: [(Int, CodeLabel)] = []

    mutating func newLabel() -> CodeLabel {
        labelOffsets.append(nil)
        return CodeLabel(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: CodeLabel) {
        precondition(labelOffsets[label.id] == nil, "label bound twice")
        labelOffsets[label.id] = bytes.count
    }

    private mutating func emit32(_ value: UInt32) {
        for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    private mutating func emit64(_ value: UInt64) {
        for i in 0 ..< 8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    /// REX prefix with W set; `reg` extends ModRM.reg, `base` extends ModRM.rm / opcode reg.
    private mutating func rexW(reg: X86Register = .rax, base: X86Register = .rax) {
        bytes.append(0x48 | (reg.isExtended ? 0x04 : 0) | (base.isExtended ? 0x01 : 0))
    }

    private mutating func modRM(_ mod: UInt8, _ reg: UInt8, _ rm: UInt8) {
        bytes.append(mod << 6 | (reg & 7) << 3 | (rm & 7))
    }

    /// ModRM + optional SIB + disp32 for `[base + displacement]`.
    private mutating func memoryOperand(reg: UInt8, base: X86Register, displacement: Int32) {
        modRM(0b10, reg, base.low)
        if base.low == 4 { bytes.append(0x24) } // rsp/r12 as base need a SIB byte
        emit32(UInt32(bitPattern: displacement))
    }

    /// `mov dst, src` (64-bit).
    mutating func mov(_ dst: X86Register, _ src: X86Register) {
        rexW(reg: src, base: dst)
        bytes.append(0x89)
        modRM(0b11, src.rawValue, dst.rawValue)
    }

    /// `mov dst, imm` choosing the shortest of `xor r32,r32`, `mov r/m64, simm32` and `movabs`.
    mutating func mov(_ dst: X86Register, immediate value: Int64) {
        if value == 0 {
            if dst.isExtended { bytes.append(0x45) }
            bytes.append(0x31)
            modRM(0b11, dst.rawValue, dst.rawValue)
        } else if let small = Int32(exactly: value) {
            rexW(base: dst)
            bytes.append(0xC7)
            modRM(0b11, 0, dst.rawValue)
            emit32(UInt32(bitPattern: small))
        } else {
            rexW(base: dst)
            bytes.append(0xB8 + dst.low)
            emit64(UInt64(bitPattern: value))
        }
    }

    /// `movabs dst, imm64` (always the 10-byte form).
    mutating func movabs(_ dst: X86Register, _ value: UInt64) {
        rexW(base: dst)
        bytes.append(0xB8 + dst.low)
        emit64(value)
    }

    /// `mov dst, [base + displacement]`.
    mutating func load(_ dst: X86Register, base: X86Register, displacement: Int32) {
        rexW(reg: dst, base: base)
        bytes.append(0x8B)
        memoryOperand(reg: dst.rawValue, base: base, displacement: displacement)
    }

    /// `mov [base + displacement], src`.
    mutating func store(_ src: X86Register, base: X86Register, displacement: Int32) {
        rexW(reg: src, base: base)
        bytes.append(0x89)
        memoryOperand(reg: src.rawValue, base: base, displacement: displacement)
    }

    mutating func push(_ reg: X86Register) {
        if reg.isExtended { bytes.append(0x41) }
        bytes.append(0x50 + reg.low)
    }

    mutating func pop(_ reg: X86Register) {
        if reg.isExtended { bytes.append(0x41) }
        bytes.append(0x58 + reg.low)
    }

    /// Two-operand ALU instructions in their `op r/m64, r64` form.
    enum ALU: UInt8 {
        case add = 0x01, sub = 0x29, and = 0x21, xor = 0x31, cmp = 0x39, test = 0x85
    }

    /// `op dst, src` (64-bit).
    mutating func alu(_ op: ALU, _ dst: X86Register, _ src: X86Register) {
        rexW(reg: src, base: dst)
        bytes.append(op.rawValue)
        modRM(0b11, src.rawValue, dst.rawValue)
    }

    /// `add dst, imm32` / `sub dst, imm32`.
    mutating func add(_ dst: X86Register, immediate: Int32) {
        rexW(base: dst)
        bytes.append(0x81)
        modRM(0b11, 0, dst.rawValue)
        emit32(UInt32(bitPattern: immediate))
    }

    mutating func sub(_ dst: X86Register, immediate: Int32) {
        rexW(base: dst)
        bytes.append(0x81)
        modRM(0b11, 5, dst.rawValue)
        emit32(UInt32(bitPattern: immediate))
    }

    /// `cmp reg, simm8`.
    mutating func cmp(_ reg: X86Register, immediate8: Int8) {
        rexW(base: reg)
        bytes.append(0x83)
        modRM(0b11, 7, reg.rawValue)
        bytes.append(UInt8(bitPattern: immediate8))
    }

    /// `cmp reg, [base + displacement]`.
    mutating func cmp(_ reg: X86Register, base: X86Register, displacement: Int32) {
        rexW(reg: reg, base: base)
        bytes.append(0x3B)
        memoryOperand(reg: reg.rawValue, base: base, displacement: displacement)
    }

    /// `cmp qword [base + displacement], simm8`.
    mutating func cmp(base: X86Register, displacement: Int32, immediate8: Int8) {
        rexW(base: base)
        bytes.append(0x83)
        memoryOperand(reg: 7, base: base, displacement: displacement)
        bytes.append(UInt8(bitPattern: immediate8))
    }

    /// `mov qword [base + displacement], simm32`.
    mutating func store(immediate: Int32, base: X86Register, displacement: Int32) {
        rexW(base: base)
        bytes.append(0xC7)
        memoryOperand(reg: 0, base: base, displacement: displacement)
        emit32(UInt32(bitPattern: immediate))
    }

    /// `imul dst, src` (64-bit, low half).
    mutating func imul(_ dst: X86Register, _ src: X86Register) {
        rexW(reg: dst, base: src)
        bytes.append(contentsOf: [0x0F, 0xAF])
        modRM(0b11, dst.rawValue, src.rawValue)
    }

    /// `neg reg`.
    mutating func neg(_ reg: X86Register) {
        rexW(base: reg)
        bytes.append(0xF7)
        modRM(0b11, 3, reg.rawValue)
    }

    /// `idiv reg`: rdx:rax / reg, quotient in rax, remainder in rdx.
    mutating func idiv(_ reg: X86Register) {
        rexW(base: reg)
        bytes.append(0xF7)
        modRM(0b11, 7, reg.rawValue)
    }

    /// `cqo`: sign-extends rax into rdx.
    mutating func cqo() {
        bytes.append(contentsOf: [0x48, 0x99])
    }

    /// `setcc al; movzx eax, al` — rax = condition ? 1 : 0.
    mutating func setAccumulator(if condition: X86Condition) {
        bytes.append(contentsOf: [0x0F, 0x90 + condition.rawValue, 0xC0])
        bytes.append(contentsOf: [0x0F, 0xB6, 0xC0])
    }

    /// `call [base + displacement]`.
    mutating func callIndirect(base: X86Register, displacement: Int32) {
        if base.isExtended { bytes.append(0x41) }
        bytes.append(0xFF)
        memoryOperand(reg: 2, base: base, displacement: displacement)
    }

    /// `leave` (mov rsp, rbp; pop rbp).
    mutating func leave() { bytes.append(0xC9) }

    mutating func ret() { bytes.append(0xC3) }

    /// `jmp rel32`.
    mutating func jump(_ label: CodeLabel) {
        bytes.append(0xE9)
        fixups.append((bytes.count, label))
        emit32(0)
    }

    /// `jcc rel32`.
    mutating func jump(if condition: X86Condition, _ label: CodeLabel) {
        bytes.append(contentsOf: [0x0F, 0x80 + condition.rawValue])
        fixups.append((bytes.count, label))
        emit32(0)
    }

    /// Patches every branch; all labels must be bound.
    mutating func finish() throws(EmitError) -> [UInt8] {
        for (field, label) in fixups {
            guard let target = labelOffsets[label.id] else { preconditionFailure("unbound label") }
            guard let displacement = Int32(exactly: target - (field + 4)) else { throw .branchOutOfRange }
            let raw = UInt32(bitPattern: displacement)
            for i in 0 ..< 4 { bytes[field + i] = UInt8(truncatingIfNeeded: raw >> (8 * UInt32(i))) }
        }
        fixups.removeAll()
        return bytes
    }
}
