/// The machine code, for the host architecture, of a C function `int32_t f(void)` that returns
/// `value`: 6 bytes on x86-64 (`mov eax, value; ret`), 8 on arm64 (`movz w0, #value; ret`, which
/// keeps the low 16 bits only). For tests that install code in a heap and call it.
public func returnConstant(_ value: Int32) -> [UInt8] {
    #if arch(x86_64)
    let v = UInt32(bitPattern: value)
    return [0xB8, UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24), 0xC3]
    #elseif arch(arm64)
    let imm = UInt32(UInt16(truncatingIfNeeded: value))
    let movz: UInt32 = 0x5280_0000 | (imm << 5) // movz w0, #imm
    let ret: UInt32 = 0xD65F_03C0
    return [movz, ret].flatMap { w in (0 ..< 4).map { UInt8((w >> (8 * $0)) & 0xFF) } }
    #endif
}

/// Calls the code at `pointer` as a C function `int32_t f(void)` and returns its result.
/// Invariant: `pointer` is executable and holds such a function (e.g. `returnConstant`'s code,
/// with the instruction cache flushed); anything else is undefined behaviour.
public func callCode(_ pointer: UnsafeRawPointer) -> Int32 {
    unsafeBitCast(pointer, to: (@convention(c) () -> Int32).self)()
}
