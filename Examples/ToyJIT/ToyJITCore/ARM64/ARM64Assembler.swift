/// An AArch64 general register number. 31 means `sp` or `xzr` depending on the instruction.
struct ARM64Register: Equatable {
    let number: UInt32

    static func x(_ n: UInt32) -> ARM64Register {
        precondition(n < 31, "x\(n) is not a general register")
        return ARM64Register(number: n)
    }
    static let fp = ARM64Register(number: 29)
    static let lr = ARM64Register(number: 30)
    static let sp = ARM64Register(number: 31)
    static let zr = ARM64Register(number: 31)
}

/// AArch64 condition codes.
enum ARM64Condition: UInt32 {
    case eq = 0, ne = 1, hs = 2, lo = 3, ge = 10, lt = 11, gt = 12, le = 13

    var inverted: ARM64Condition { ARM64Condition(rawValue: rawValue ^ 1)! }
}

/// Encodes the few A64 instructions the toy compiler needs as little-endian words, with
/// pc-relative branches to labels patched in `finish`.
/// Thread-safety: a value; use one per thread.
struct ARM64Assembler {
    private(set) var words: [UInt32] = []
    private var labelOffsets: [Int?] = []
    /// (word index of the branch, label, width of its imm field: 26 or 19).
    private var fixups: [(Int, CodeLabel, UInt32)] = []

    mutating func newLabel() -> CodeLabel {
        labelOffsets.append(nil)
        return CodeLabel(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: CodeLabel) {
        precondition(labelOffsets[label.id] == nil, "label bound twice")
        labelOffsets[label.id] = words.count
    }

    mutating func emit(_ word: UInt32) { words.append(word) }

    private static func rd(_ r: ARM64Register) -> UInt32 { r.number }
    private static func rn(_ r: ARM64Register) -> UInt32 { r.number << 5 }
    private static func rm(_ r: ARM64Register) -> UInt32 { r.number << 16 }

    /// `movz rd, #imm16, lsl #shift`.
    mutating func movz(_ d: ARM64Register, _ imm16: UInt16, shift: UInt32 = 0) {
        emit(0xD280_0000 | (shift / 16) << 21 | UInt32(imm16) << 5 | d.number)
    }

    /// `movk rd, #imm16, lsl #shift`.
    mutating func movk(_ d: ARM64Register, _ imm16: UInt16, shift: UInt32) {
        emit(0xF280_0000 | (shift / 16) << 21 | UInt32(imm16) << 5 | d.number)
    }

    /// `movn rd, #imm16, lsl #shift` (rd = ~(imm16 << shift)).
    mutating func movn(_ d: ARM64Register, _ imm16: UInt16, shift: UInt32 = 0) {
        emit(0x9280_0000 | (shift / 16) << 21 | UInt32(imm16) << 5 | d.number)
    }

    /// Loads any 64-bit constant with one `movz`/`movn` and up to three `movk`.
    mutating func move(_ d: ARM64Register, immediate value: UInt64) {
        let halves = (0 ..< 4).map { UInt16(truncatingIfNeeded: value >> (16 * UInt64($0))) }
        let ones = halves.filter { $0 == 0xFFFF }.count
        let zeros = halves.filter { $0 == 0 }.count
        if ones > zeros {
            // Start from all ones and patch the halves that differ.
            let first = halves.firstIndex { $0 != 0xFFFF } ?? 0
            movn(d, ~halves[first], shift: UInt32(16 * first))
            for i in 0 ..< 4 where i != first && halves[i] != 0xFFFF { movk(d, halves[i], shift: UInt32(16 * i)) }
        } else {
            let first = halves.firstIndex { $0 != 0 } ?? 0
            movz(d, halves[first], shift: UInt32(16 * first))
            for i in 0 ..< 4 where i != first && halves[i] != 0 { movk(d, halves[i], shift: UInt32(16 * i)) }
        }
    }

    /// `mov rd, rm` (orr rd, xzr, rm); not for sp.
    mutating func mov(_ d: ARM64Register, _ m: ARM64Register) {
        emit(0xAA00_03E0 | Self.rm(m) | d.number)
    }

    /// `add rd, rn, #imm12` (sp allowed; `mov` to or from sp when imm is 0).
    mutating func add(_ d: ARM64Register, _ n: ARM64Register, immediate: UInt32) {
        precondition(immediate < 4096)
        emit(0x9100_0000 | immediate << 10 | Self.rn(n) | d.number)
    }

    /// `sub rd, rn, #imm12` (sp allowed).
    mutating func sub(_ d: ARM64Register, _ n: ARM64Register, immediate: UInt32) {
        precondition(immediate < 4096)
        emit(0xD100_0000 | immediate << 10 | Self.rn(n) | d.number)
    }

    mutating func add(_ d: ARM64Register, _ n: ARM64Register, _ m: ARM64Register) {
        emit(0x8B00_0000 | Self.rm(m) | Self.rn(n) | d.number)
    }

    mutating func sub(_ d: ARM64Register, _ n: ARM64Register, _ m: ARM64Register) {
        emit(0xCB00_0000 | Self.rm(m) | Self.rn(n) | d.number)
    }

    /// `neg rd, rm` (sub rd, xzr, rm).
    mutating func neg(_ d: ARM64Register, _ m: ARM64Register) { sub(d, .zr, m) }

    /// `mul rd, rn, rm` (madd with xzr).
    mutating func mul(_ d: ARM64Register, _ n: ARM64Register, _ m: ARM64Register) {
        emit(0x9B00_7C00 | Self.rm(m) | Self.rn(n) | d.number)
    }

    /// `sdiv rd, rn, rm`: rounds toward zero; division by zero gives 0, INT64_MIN / -1 gives INT64_MIN.
    mutating func sdiv(_ d: ARM64Register, _ n: ARM64Register, _ m: ARM64Register) {
        emit(0x9AC0_0C00 | Self.rm(m) | Self.rn(n) | d.number)
    }

    /// `msub rd, rn, rm, ra`: rd = ra - rn * rm.
    mutating func msub(_ d: ARM64Register, _ n: ARM64Register, _ m: ARM64Register, _ a: ARM64Register) {
        emit(0x9B00_8000 | Self.rm(m) | a.number << 10 | Self.rn(n) | d.number)
    }

    /// `cmp rn, rm` (subs xzr, rn, rm).
    mutating func cmp(_ n: ARM64Register, _ m: ARM64Register) {
        emit(0xEB00_001F | Self.rm(m) | Self.rn(n))
    }

    /// `cmp rn, #imm12` (subs xzr, rn, #imm).
    mutating func cmp(_ n: ARM64Register, immediate: UInt32) {
        precondition(immediate < 4096)
        emit(0xF100_001F | immediate << 10 | Self.rn(n))
    }

    /// `cset rd, cond` (csinc rd, xzr, xzr, !cond).
    mutating func cset(_ d: ARM64Register, _ condition: ARM64Condition) {
        emit(0x9A9F_07E0 | condition.inverted.rawValue << 12 | d.number)
    }

    /// `ldr rt, [rn, #offset]` with a non-negative offset that is a multiple of 8.
    mutating func ldr(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        precondition(offset >= 0 && offset % 8 == 0 && offset / 8 < 4096)
        emit(0xF940_0000 | UInt32(offset / 8) << 10 | Self.rn(n) | t.number)
    }

    /// `str rt, [rn, #offset]` with a non-negative offset that is a multiple of 8.
    mutating func str(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        precondition(offset >= 0 && offset % 8 == 0 && offset / 8 < 4096)
        emit(0xF900_0000 | UInt32(offset / 8) << 10 | Self.rn(n) | t.number)
    }

    /// `ldur rt, [rn, #offset]` (unscaled, -256...255).
    mutating func ldur(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xF840_0000 | Self.imm9(offset) | Self.rn(n) | t.number)
    }

    /// `stur rt, [rn, #offset]` (unscaled, -256...255).
    mutating func stur(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xF800_0000 | Self.imm9(offset) | Self.rn(n) | t.number)
    }

    private static func imm9(_ value: Int) -> UInt32 {
        precondition(value >= -256 && value < 256)
        return (UInt32(bitPattern: Int32(value)) & 0x1FF) << 12
    }

    /// `str rt, [rn, #offset]!` (pre-index).
    mutating func strPreIndex(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xF800_0C00 | Self.imm9(offset) | Self.rn(n) | t.number)
    }

    /// `ldr rt, [rn], #offset` (post-index).
    mutating func ldrPostIndex(_ t: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xF840_0400 | Self.imm9(offset) | Self.rn(n) | t.number)
    }

    private static func imm7(_ value: Int) -> UInt32 {
        precondition(value % 8 == 0 && value >= -512 && value < 512)
        return (UInt32(bitPattern: Int32(value / 8)) & 0x7F) << 15
    }

    /// `stp rt, rt2, [rn, #offset]!` (pre-index).
    mutating func stpPreIndex(_ t: ARM64Register, _ t2: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xA980_0000 | Self.imm7(offset) | t2.number << 10 | Self.rn(n) | t.number)
    }

    /// `ldp rt, rt2, [rn], #offset` (post-index).
    mutating func ldpPostIndex(_ t: ARM64Register, _ t2: ARM64Register, _ n: ARM64Register, offset: Int) {
        emit(0xA8C0_0000 | Self.imm7(offset) | t2.number << 10 | Self.rn(n) | t.number)
    }

    /// `blr rn`.
    mutating func blr(_ n: ARM64Register) { emit(0xD63F_0000 | Self.rn(n)) }

    /// `ret` (to x30).
    mutating func ret() { emit(0xD65F_03C0) }

    /// `b label`.
    mutating func b(_ label: CodeLabel) {
        fixups.append((words.count, label, 26))
        emit(0x1400_0000)
    }

    /// `cbz rt, label`.
    mutating func cbz(_ t: ARM64Register, _ label: CodeLabel) {
        fixups.append((words.count, label, 19))
        emit(0xB400_0000 | t.number)
    }

    /// `cbnz rt, label`.
    mutating func cbnz(_ t: ARM64Register, _ label: CodeLabel) {
        fixups.append((words.count, label, 19))
        emit(0xB500_0000 | t.number)
    }

    /// `b.cond label`.
    mutating func b(_ condition: ARM64Condition, _ label: CodeLabel) {
        fixups.append((words.count, label, 19))
        emit(0x5400_0000 | condition.rawValue)
    }

    /// Patches every branch and returns the code as little-endian bytes.
    mutating func finish() throws(EmitError) -> [UInt8] {
        for (index, label, width) in fixups {
            guard let target = labelOffsets[label.id] else { preconditionFailure("unbound label") }
            let distance = target - index // in instructions
            let limit = 1 << (Int(width) - 1)
            guard distance >= -limit && distance < limit else { throw .branchOutOfRange }
            let field = UInt32(bitPattern: Int32(distance)) & ((1 << width) - 1)
            words[index] |= width == 26 ? field : field << 5
        }
        fixups.removeAll()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words.count * 4)
        for word in words {
            for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt32(i)))) }
        }
        return bytes
    }
}
