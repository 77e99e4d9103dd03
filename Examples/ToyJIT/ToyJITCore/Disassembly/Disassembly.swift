import Foundation

/// Human-readable views of machine code, for the command line and the tests.
///
/// Thread-safety: stateless; `objdump` starts a child process and writes a temporary file,
/// and may be called from several threads at once.
public enum Disassembly {
    /// A hex dump: 16 bytes per line, each line starting with its offset
    /// (`0000: 55 48 89 e5 ...`). Empty code gives an empty string. Cost: linear in the code.
    public static func hexLines(_ code: [UInt8]) -> String {
        let width = max(4, String(max(code.count - 1, 0), radix: 16).count)
        var lines: [String] = []
        lines.reserveCapacity((code.count + 15) / 16)
        var start = 0
        while start < code.count {
            let row = code[start ..< min(start + 16, code.count)]
            let offset = String(start, radix: 16)
            let hex = row.map { byte in byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }
            lines.append(String(repeating: "0", count: width - offset.count) + offset + ": " + hex.joined(separator: " "))
            start += 16
        }
        return lines.joined(separator: "\n")
    }

    /// Disassembles `code` with llvm-objdump (found on PATH or in /opt/swift/usr/bin), one
    /// line per instruction: `offset: mnemonic operands` (x86-64 in Intel syntax). Returns nil
    /// when llvm-objdump is absent, fails or prints no instructions.
    /// Cost: writes a temporary file and runs one child process.
    public static func objdump(_ code: [UInt8], architecture: Architecture) -> String? {
        guard let lines = instructionLines(code, architecture: architecture) else { return nil }
        let width = lines.map(\.offset.count).max() ?? 0
        return lines.map { String(repeating: " ", count: width - $0.offset.count) + $0.offset + ": " + $0.text }
            .joined(separator: "\n")
    }

    /// The llvm-objdump executable, or nil when none is installed.
    static func objdumpPath() -> String? {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map { "\($0)/llvm-objdump" }
        candidates.append("/opt/swift/usr/bin/llvm-objdump")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The instructions of `code` as (hex offset, "mnemonic operands" with single spaces),
    /// or nil when llvm-objdump is absent or fails.
    static func instructionLines(_ code: [UInt8], architecture: Architecture) -> [(offset: String, text: String)]? {
        guard let executable = objdumpPath(), !code.isEmpty else { return nil }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("toyjit-\(UUID().uuidString).o")
        defer { try? FileManager.default.removeItem(at: url) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        let triple = architecture == .arm64 ? "aarch64" : "x86_64"
        let syntax = architecture == .x86_64 ? ["-M", "intel"] : []
        process.arguments = ["--triple=\(triple)", "-d", "--no-show-raw-insn"] + syntax + [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try Data(ELFObject.relocatable(code: code, architecture: architecture)).write(to: url)
            try process.run()
        } catch {
            return nil
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let lines = parse(String(decoding: data, as: UTF8.self))
        return lines.isEmpty ? nil : lines
    }

    /// Picks the instruction lines out of llvm-objdump's output; they look like
    /// `      1c:      \tmov\tx0, #1`.
    static func parse(_ output: String) -> [(offset: String, text: String)] {
        output.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].allSatisfy({ $0 == " " || $0.isHexDigit }),
                parts[0].contains(where: { $0.isHexDigit })
            else { return nil }
            let body = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            guard !body.isEmpty else { return nil }
            return (String(parts[0].filter { $0 != " " }), body)
        }
    }
}
