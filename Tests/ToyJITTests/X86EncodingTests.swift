import Testing
@testable import ToyJITCore

@Suite("ToyJIT x86-64 encodings")
struct X86EncodingTests {
    @Test func instructionEncodingsMatchLLVMObjdump() throws {
        guard Disassembly.objdumpPath() != nil else {
            print("llvm-objdump not found; skipping x86-64 encoding check")
            return
        }
        let cases: [(String, (inout X86Assembler) -> Void)] = [
            ("push rbp", { $0.push(.rbp) }),
            ("pop r8", { $0.pop(.r8) }),
            ("pop r9", { $0.pop(.r9) }),
            ("mov rbp, rsp", { $0.mov(.rbp, .rsp) }),
            ("mov rcx, rax", { $0.mov(.rcx, .rax) }),
            ("mov rax, rdx", { $0.mov(.rax, .rdx) }),
            ("xor eax, eax", { $0.mov(.rax, immediate: 0) }),
            ("mov rax, -5", { $0.mov(.rax, immediate: -5) }),
            ("movabs rax, -9223372036854775808", { $0.mov(.rax, immediate: .min) }),
            ("movabs r11, 1311768467463790320", { $0.movabs(.r11, 0x1234_5678_9ABC_DEF0) }),
            ("mov rax, qword ptr [rbp - 8]", { $0.load(.rax, base: .rbp, displacement: -8) }),
            ("mov qword ptr [rbp - 48], r9", { $0.store(.r9, base: .rbp, displacement: -48) }),
            ("mov qword ptr [rbp - 4000], rax", { $0.store(.rax, base: .rbp, displacement: -4000) }),
            ("add rax, rcx", { $0.alu(.add, .rax, .rcx) }),
            ("sub rax, rcx", { $0.alu(.sub, .rax, .rcx) }),
            ("cmp rax, rcx", { $0.alu(.cmp, .rax, .rcx) }),
            ("test rcx, rcx", { $0.alu(.test, .rcx, .rcx) }),
            ("imul rax, rcx", { $0.imul(.rax, .rcx) }),
            ("neg rax", { $0.neg(.rax) }),
            ("cqo", { $0.cqo() }),
            ("idiv rcx", { $0.idiv(.rcx) }),
            ("cmp rcx, -1", { $0.cmp(.rcx, immediate8: -1) }),
            ("sub rsp, 8", { $0.sub(.rsp, immediate: 8) }),
            ("add rsp, 8", { $0.add(.rsp, immediate: 8) }),
            ("call qword ptr [r11 + 32760]", { $0.callIndirect(base: .r11, displacement: 32760) }),
            ("cmp rsp, qword ptr [r11 - 16]", { $0.cmp(.rsp, base: .r11, displacement: -16) }),
            ("cmp qword ptr [r11 - 8], 0", { $0.cmp(base: .r11, displacement: -8, immediate8: 0) }),
            ("mov qword ptr [r11 - 8], 1", { $0.store(immediate: 1, base: .r11, displacement: -8) }),
            ("leave", { $0.leave() }),
            ("ret", { $0.ret() }),
        ]
        var assembler = X86Assembler()
        for (_, emit) in cases { emit(&assembler) }
        var expected = cases.map(\.0)
        let conditions: [(X86Condition, String)] = [
            (.equal, "e"), (.notEqual, "ne"), (.less, "l"), (.lessOrEqual, "le"),
            (.greater, "g"), (.greaterOrEqual, "ge"), (.below, "b"), (.aboveOrEqual, "ae"),
        ]
        for (condition, suffix) in conditions {
            assembler.setAccumulator(if: condition)
            expected += ["set\(suffix) al", "movzx eax, al"]
        }
        let label = assembler.newLabel()
        assembler.bind(label)
        let target = assembler.bytes.count
        assembler.jump(label)
        assembler.jump(if: .aboveOrEqual, label)
        expected += ["jmp 0x\(String(target, radix: 16))", "jae 0x\(String(target, radix: 16))"]
        let lines = try #require(Disassembly.instructionLines(try assembler.finish(), architecture: .x86_64)).map(\.text)
        #expect(lines.count == expected.count)
        for (line, want) in zip(lines, expected) {
            #expect(line == want || line.hasPrefix(want + " <"), "objdump: \(line)")
        }
    }
}
