import Testing
@testable import ToyJITCore

@Suite("ToyJIT disassembly views")
struct DisassemblyTests {
    @Test func hexLinesShowSixteenBytesPerLineWithOffsets() {
        #expect(Disassembly.hexLines([]) == "")
        #expect(Disassembly.hexLines([0xC3]) == "0000: c3")
        let code = (0 ..< 35).map { UInt8($0 * 7 & 0xFF) }
        #expect(
            Disassembly.hexLines(code) == """
                0000: 00 07 0e 15 1c 23 2a 31 38 3f 46 4d 54 5b 62 69
                0010: 70 77 7e 85 8c 93 9a a1 a8 af b6 bd c4 cb d2 d9
                0020: e0 e7 ee
                """)
        // Offsets widen once they need more than four digits.
        let big = Disassembly.hexLines([UInt8](repeating: 0xAB, count: 0x10001)).split(separator: "\n")
        #expect(big.count == 0x1001)
        #expect(big.first?.hasPrefix("00000: ab ab") == true)
        #expect(big.last == "10000: ab")
    }

    @Test func objdumpOutputIsParsedIntoOffsetsAndInstructions() {
        let output = """

            /tmp/toyjit.o:\tfile format elf64-littleaarch64

            Disassembly of section .text:

            0000000000000000 <.text>:
                   0:      \tmov\tx0, #0x1
                   4:      \tb\t0x0 <.text>
                  1c:      \tret
            """
        let lines = Disassembly.parse(output)
        #expect(lines.map(\.offset) == ["0", "4", "1c"])
        #expect(lines.map(\.text) == ["mov x0, #0x1", "b 0x0 <.text>", "ret"])
    }

    @Test(.enabled(if: Disassembly.objdumpPath() != nil, "llvm-objdump is not installed"))
    func objdumpDisassemblesBothArchitectures() throws {
        var arm = ARM64Assembler()
        arm.movz(.x(0), 1)
        arm.ret()
        #expect(Disassembly.objdump(try arm.finish(), architecture: .arm64) == "0: mov x0, #1\n4: ret")
        #expect(Disassembly.objdump([0x48, 0x89, 0xE5, 0xC3], architecture: .x86_64) == "0: mov rbp, rsp\n3: ret")
        #expect(Disassembly.objdump([], architecture: .arm64) == nil)
        // Offsets are right-aligned once they have different widths.
        let program = try Program(source: DemoProgram.source)
        let code = try Compiler.compile(program.functions[0], for: .arm64, functionTable: 0x1000)
        let text = try #require(Disassembly.objdump(code, architecture: .arm64))
        let lines = text.split(separator: "\n")
        #expect(lines.count == code.count / 4)
        #expect(lines.first?.hasSuffix(" 0: sub sp, sp, #16") == true) // fib has one variable slot
        #expect(lines.last?.hasSuffix(": ret") == true)
        #expect(Set(lines.map { $0.firstIndex(of: ":")!.utf16Offset(in: $0) }).count == 1)
    }
}
