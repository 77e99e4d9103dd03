import Foundation

/// Runs `llvm-objdump` on code wrapped in a minimal ELF64 relocatable object.
struct Disassembler {
    let executable: String

    /// Finds llvm-objdump on PATH or in the Swift toolchain; nil when absent.
    static func find() -> Disassembler? {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map { "\($0)/llvm-objdump" }
        candidates.append("/opt/swift/usr/bin/llvm-objdump")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }.map(Disassembler.init)
    }

    /// An ELF64 little-endian relocatable object whose only content is a `.text` section.
    static func objectFile(code: [UInt8], machine: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        let names: [UInt8] = Array("\0.text\0.shstrtab\0".utf8)
        let textOffset = 64, namesOffset = 64 + code.count
        let sectionsOffset = (namesOffset + names.count + 7) & ~7
        out += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        u16(1); u16(machine); u32(1) // ET_REL, machine, EV_CURRENT
        u64(0); u64(0); u64(UInt64(sectionsOffset)) // entry, phoff, shoff
        u32(0); u16(64); u16(0); u16(0); u16(64); u16(3); u16(2) // flags, sizes, counts, shstrndx
        out += code + names
        out += [UInt8](repeating: 0, count: sectionsOffset - out.count)
        func section(name: UInt32, type: UInt32, flags: UInt64, offset: Int, size: Int, align: UInt64) {
            u32(name); u32(type); u64(flags); u64(0); u64(UInt64(offset)); u64(UInt64(size))
            u32(0); u32(0); u64(align); u64(0)
        }
        out += [UInt8](repeating: 0, count: 64)
        section(name: 1, type: 1, flags: 6, offset: textOffset, size: code.count, align: 4) // .text
        section(name: 7, type: 3, flags: 0, offset: namesOffset, size: names.count, align: 1) // .shstrtab
        return out
    }

    /// Disassembles `code` for `triple` ("aarch64" or "x86_64", in Intel syntax) and returns
    /// one line per instruction, mnemonic and operands separated by single spaces.
    func disassemble(_ code: [UInt8], triple: String) throws -> [String] {
        let machine: UInt16 = triple == "aarch64" ? 183 : 62
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("toyjit-\(UUID().uuidString).o")
        try Data(Disassembler.objectFile(code: code, machine: machine)).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        let syntax = triple == "x86_64" ? ["-M", "intel"] : []
        process.arguments = ["--triple=\(triple)", "-d", "--no-show-raw-insn"] + syntax + [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> String? in
            // Instruction lines look like "      1c:      \tmov\tx0, #1".
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].allSatisfy({ $0 == " " || $0.isHexDigit }),
                  parts[0].contains(where: { $0.isHexDigit }) else { return nil }
            let body = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            return body.isEmpty ? nil : body
        }
    }
}
