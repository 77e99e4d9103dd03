/// Executes the subset of A64 the toy compiler emits, so arm64 code can be checked
/// against the interpreter on an x86-64 host. Decoding is written from the architecture
/// manual independently of the assembler; any other instruction is reported as an error.
///
/// Memory is a map of 8-byte words; the function table lives at `tableAddress` (with the
/// stack limit and overflow flag in the two words below it) and
/// function `i`'s code at `codeBase * (i + 1)`. Every access through `sp` and every call
/// checks that `sp` is 16-byte aligned, as AAPCS64 requires.
struct ARM64Emulator {
    struct Fault: Error, CustomStringConvertible {
        let description: String
    }

    static let tableAddress: UInt64 = 0x1_0000
    static let codeBase: UInt64 = 0x100_0000
    static let returnAddress: UInt64 = 0xDEAD_0000
    static let stackTop: UInt64 = 0x7000_0000
    /// The stack limit the emulated engine publishes below the table.
    static let stackLimit: UInt64 = stackTop - (1 << 20)
    static let overflowFlagAddress: UInt64 = tableAddress - 8

    /// Whether compiled code raised the overflow flag.
    var overflowed: Bool { memory[Self.overflowFlagAddress] != 0 }

    let functions: [[UInt32]]
    var x = [UInt64](repeating: 0, count: 31)
    var sp: UInt64 = stackTop
    var pc: UInt64 = 0
    var n = false, z = false, c = false, v = false
    var memory: [UInt64: UInt64] = [:]
    var steps = 0

    /// `code[i]` is function i's machine code, compiled with `functionTable: tableAddress`.
    init(code: [[UInt8]]) {
        functions = code.map { bytes in
            stride(from: 0, to: bytes.count, by: 4).map { i in
                UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            }
        }
        memory[Self.tableAddress - 16] = Self.stackLimit
        memory[Self.overflowFlagAddress] = 0
        for i in 0 ..< code.count {
            memory[Self.tableAddress + 8 * UInt64(i)] = Self.codeBase * UInt64(i + 1)
        }
    }

    private func read(_ r: UInt32, spAllowed: Bool) -> UInt64 {
        r == 31 ? (spAllowed ? sp : 0) : x[Int(r)]
    }

    private mutating func write(_ r: UInt32, _ value: UInt64, spAllowed: Bool) {
        if r == 31 {
            if spAllowed { sp = value }
        } else {
            x[Int(r)] = value
        }
    }

    private mutating func load(_ address: UInt64) throws -> UInt64 {
        guard address % 8 == 0, let value = memory[address] else {
            throw Fault(description: "load from unwritten or misaligned 0x\(String(address, radix: 16))")
        }
        return value
    }

    private mutating func store(_ address: UInt64, _ value: UInt64) throws {
        let onStack = address < Self.stackTop && address > Self.stackTop - (1 << 24)
        guard address % 8 == 0, onStack || address == Self.overflowFlagAddress else {
            throw Fault(description: "store outside the stack at 0x\(String(address, radix: 16))")
        }
        memory[address] = value
    }

    private func baseAddress(_ r: UInt32) throws -> UInt64 {
        if r == 31 && sp % 16 != 0 { throw Fault(description: "sp 0x\(String(sp, radix: 16)) misaligned at access") }
        return read(r, spAllowed: true)
    }

    private func holds(_ cond: UInt32) -> Bool {
        let base: Bool
        switch cond >> 1 {
        case 0: base = z
        case 1: base = c
        case 5: base = n == v
        case 6: base = !z && n == v
        default: base = false
        }
        return cond & 1 == 1 ? !base : base
    }

    private mutating func setFlags(_ a: UInt64, _ b: UInt64) {
        let result = a &- b
        n = Int64(bitPattern: result) < 0
        z = result == 0
        c = a >= b
        v = Int64(bitPattern: (a ^ b) & (a ^ result)) < 0
    }

    private static func signExtend(_ value: UInt32, bits: UInt32) -> Int64 {
        let shift = 64 - UInt64(bits)
        return Int64(bitPattern: UInt64(value) << shift) >> Int64(shift)
    }

    /// Calls function `index` with `arguments` in x0..., and returns x0 when it returns.
    mutating func call(_ index: Int, _ arguments: [Int64], stepLimit: Int = 20_000_000) throws -> Int64 {
        for (i, a) in arguments.enumerated() { x[i] = UInt64(bitPattern: a) }
        x[30] = Self.returnAddress
        pc = Self.codeBase * UInt64(index + 1)
        while pc != Self.returnAddress {
            steps += 1
            guard steps < stepLimit else { throw Fault(description: "step limit exceeded") }
            let function = Int(pc / Self.codeBase) - 1
            let offset = Int(pc % Self.codeBase) / 4
            guard pc % 4 == 0, function >= 0, function < functions.count, offset < functions[function].count else {
                throw Fault(description: "jump to 0x\(String(pc, radix: 16)) outside the code")
            }
            try execute(functions[function][offset])
        }
        return Int64(bitPattern: x[0])
    }

    private mutating func execute(_ w: UInt32) throws {
        let rd = w & 31, rn = (w >> 5) & 31, rm = (w >> 16) & 31, ra = (w >> 10) & 31
        let imm12 = UInt64((w >> 10) & 0xFFF)
        var next = pc + 4
        switch w {
        case _ where w & 0xFF80_0000 == 0xD280_0000: // movz
            write(rd, UInt64((w >> 5) & 0xFFFF) << (16 * UInt64((w >> 21) & 3)), spAllowed: false)
        case _ where w & 0xFF80_0000 == 0x9280_0000: // movn
            write(rd, ~(UInt64((w >> 5) & 0xFFFF) << (16 * UInt64((w >> 21) & 3))), spAllowed: false)
        case _ where w & 0xFF80_0000 == 0xF280_0000: // movk
            let shift = 16 * UInt64((w >> 21) & 3)
            let old = read(rd, spAllowed: false) & ~(0xFFFF << shift)
            write(rd, old | UInt64((w >> 5) & 0xFFFF) << shift, spAllowed: false)
        case _ where w & 0xFFE0_FFE0 == 0xAA00_03E0: // orr rd, xzr, rm
            write(rd, read(rm, spAllowed: false), spAllowed: false)
        case _ where w & 0xFFC0_0000 == 0x9100_0000: // add imm
            write(rd, read(rn, spAllowed: true) &+ imm12, spAllowed: true)
        case _ where w & 0xFFC0_0000 == 0xD100_0000: // sub imm
            write(rd, read(rn, spAllowed: true) &- imm12, spAllowed: true)
        case _ where w & 0xFFE0_FC00 == 0x8B00_0000: // add reg
            write(rd, read(rn, spAllowed: false) &+ read(rm, spAllowed: false), spAllowed: false)
        case _ where w & 0xFFE0_FC00 == 0xCB00_0000: // sub reg
            write(rd, read(rn, spAllowed: false) &- read(rm, spAllowed: false), spAllowed: false)
        case _ where w & 0xFFE0_8000 == 0x9B00_0000: // madd
            write(rd, read(ra, spAllowed: false) &+ read(rn, spAllowed: false) &* read(rm, spAllowed: false), spAllowed: false)
        case _ where w & 0xFFE0_8000 == 0x9B00_8000: // msub
            write(rd, read(ra, spAllowed: false) &- read(rn, spAllowed: false) &* read(rm, spAllowed: false), spAllowed: false)
        case _ where w & 0xFFE0_FC00 == 0x9AC0_0C00: // sdiv
            let a = Int64(bitPattern: read(rn, spAllowed: false)), b = Int64(bitPattern: read(rm, spAllowed: false))
            let q: Int64 = b == 0 ? 0 : (a == .min && b == -1 ? .min : a / b)
            write(rd, UInt64(bitPattern: q), spAllowed: false)
        case _ where w & 0xFFE0_FC00 == 0xEB00_0000: // subs reg
            let a = read(rn, spAllowed: false), b = read(rm, spAllowed: false)
            setFlags(a, b)
            write(rd, a &- b, spAllowed: false)
        case _ where w & 0xFFC0_0000 == 0xF100_0000: // subs imm
            let a = read(rn, spAllowed: true)
            setFlags(a, imm12)
            write(rd, a &- imm12, spAllowed: false)
        case _ where w & 0xFFE0_0C00 == 0x9A80_0400: // csinc
            let cond = (w >> 12) & 15
            write(rd, holds(cond) ? read(rn, spAllowed: false) : read(rm, spAllowed: false) &+ 1, spAllowed: false)
        case _ where w & 0xFFC0_0000 == 0xF940_0000: // ldr uimm
            write(rd, try load(try baseAddress(rn) &+ imm12 * 8), spAllowed: false)
        case _ where w & 0xFFC0_0000 == 0xF900_0000: // str uimm
            try store(try baseAddress(rn) &+ imm12 * 8, read(rd, spAllowed: false))
        case _ where w & 0xFFE0_0C00 == 0xF840_0000: // ldur
            write(
                rd, try load(try baseAddress(rn) &+ UInt64(bitPattern: Self.signExtend((w >> 12) & 0x1FF, bits: 9))),
                spAllowed: false)
        case _ where w & 0xFFE0_0C00 == 0xF800_0000: // stur
            try store(
                try baseAddress(rn) &+ UInt64(bitPattern: Self.signExtend((w >> 12) & 0x1FF, bits: 9)), read(rd, spAllowed: false)
            )
        case _ where w & 0xFFE0_0C00 == 0xF800_0C00: // str pre-index
            let address = try baseAddress(rn) &+ UInt64(bitPattern: Self.signExtend((w >> 12) & 0x1FF, bits: 9))
            try store(address, read(rd, spAllowed: false))
            write(rn, address, spAllowed: true)
        case _ where w & 0xFFE0_0C00 == 0xF840_0400: // ldr post-index
            let address = try baseAddress(rn)
            write(rd, try load(address), spAllowed: false)
            write(rn, address &+ UInt64(bitPattern: Self.signExtend((w >> 12) & 0x1FF, bits: 9)), spAllowed: true)
        case _ where w & 0xFFC0_0000 == 0xA980_0000: // stp pre-index
            let address = try baseAddress(rn) &+ UInt64(bitPattern: Self.signExtend((w >> 15) & 0x7F, bits: 7) * 8)
            try store(address, read(rd, spAllowed: false))
            try store(address + 8, read(ra, spAllowed: false))
            write(rn, address, spAllowed: true)
        case _ where w & 0xFFC0_0000 == 0xA8C0_0000: // ldp post-index
            let address = try baseAddress(rn)
            write(rd, try load(address), spAllowed: false)
            write(ra, try load(address + 8), spAllowed: false)
            write(rn, address &+ UInt64(bitPattern: Self.signExtend((w >> 15) & 0x7F, bits: 7) * 8), spAllowed: true)
        case _ where w & 0xFC00_0000 == 0x1400_0000: // b
            next = pc &+ UInt64(bitPattern: Self.signExtend(w & 0x3FF_FFFF, bits: 26) * 4)
        case _ where w & 0xFF00_0000 == 0xB400_0000, _ where w & 0xFF00_0000 == 0xB500_0000: // cbz, cbnz
            let zero = read(rd, spAllowed: false) == 0
            if zero == (w & 0x0100_0000 == 0) {
                next = pc &+ UInt64(bitPattern: Self.signExtend((w >> 5) & 0x7FFFF, bits: 19) * 4)
            }
        case _ where w & 0xFF00_0010 == 0x5400_0000: // b.cond
            if holds(w & 15) { next = pc &+ UInt64(bitPattern: Self.signExtend((w >> 5) & 0x7FFFF, bits: 19) * 4) }
        case _ where w & 0xFFFF_FC1F == 0xD63F_0000: // blr
            guard sp % 16 == 0 else { throw Fault(description: "sp misaligned at call") }
            x[30] = next
            next = read(rn, spAllowed: false)
        case 0xD65F_03C0: // ret
            next = x[30]
        default:
            throw Fault(description: "unsupported instruction 0x\(String(w, radix: 16)) at 0x\(String(pc, radix: 16))")
        }
        pc = next
    }
}
