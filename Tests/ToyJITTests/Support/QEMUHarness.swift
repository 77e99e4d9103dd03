import Foundation
@testable import ToyJITCore

/// Runs arm64 code from the toy compiler for real, under `qemu-aarch64` (user-mode emulation).
///
/// `executable` writes a minimal static AArch64 Linux ELF executable: one read+execute
/// segment holding the compiled functions followed by a `_start` routine, and one read+write
/// segment holding the function table (with the stack-limit and overflow-flag words below
/// entry 0) and an output buffer. `_start` stores `sp - stackAllowance` as the stack limit,
/// performs each step (a call with its arguments in x0..., or a table switch to replacement
/// code), records three words per call (result, overflow flag, sp difference), writes the
/// buffer to stdout with the `write` syscall and exits 0 with `exit`.
struct QEMUHarness {
    /// One thing `_start` does, in order.
    enum Step {
        /// Calls function `index` with `arguments` in x0... and records the outcome.
        case call(Int, [Int64])
        /// Stores the address of `code` (laid out after the functions) in table entry `index`.
        case replace(Int, code: [UInt8])
    }

    /// What one call produced.
    struct Outcome: Equatable {
        var value: Int64
        /// The overflow flag after the call (then cleared for the next call).
        var overflowed: Bool
        /// sp after the call minus sp before it; 0 when the code keeps the stack balanced.
        var stackDrift: Int64
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let codeBase: UInt64 = 0x40_0000
    static let dataBase: UInt64 = 0x1000_0000
    /// Where the function table starts: after the two header words at the start of the data segment.
    static let tableAddress = UInt(dataBase) + UInt(8 * FunctionTableLayout.headerWords)
    /// Stack the compiled code may use below `_start`'s sp (qemu gives 8 MiB).
    static let stackAllowance: UInt64 = 1 << 20
    private static let segmentAlignment = 0x1_0000
    private static let functionsOffset = 0x100

    /// qemu-aarch64 on PATH, or nil.
    static let qemuPath: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "")
        .split(separator: ":").map { "\($0)/qemu-aarch64" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static var available: Bool { qemuPath != nil }

    /// Compiles every function of `program` for arm64 against `tableAddress`.
    static func compile(_ program: Program) throws -> [[UInt8]] {
        try program.functions.map { (f) throws(SourceError) in try compile(f) }
    }

    static func compile(_ function: Function) throws(SourceError) -> [UInt8] {
        try Compiler.compile(function, for: .arm64, functionTable: tableAddress)
    }

    /// The bytes of the executable.
    static func executable(functions: [[UInt8]], steps: [Step]) throws -> [UInt8] {
        // Code: functions, replacements, then _start, each 16-byte aligned.
        var text: [UInt8] = []
        func place(_ code: [UInt8]) -> UInt64 {
            text += [UInt8](repeating: 0, count: (16 - text.count % 16) % 16)
            let address = codeBase + UInt64(functionsOffset + text.count)
            text += code
            return address
        }
        let entries = functions.map(place)
        let callCount = steps.filter { if case .call = $0 { true } else { false } }.count
        let tableEnd = UInt64(tableAddress) + UInt64(8 * functions.count)
        let output = (tableEnd + 15) & ~15

        var a = ARM64Assembler()
        let table = ARM64Register.x(16), scratch = ARM64Register.x(9)
        let startSP = ARM64Register.x(19), cursor = ARM64Register.x(20)
        a.move(table, immediate: UInt64(tableAddress))
        a.add(scratch, .sp, immediate: 0)
        a.move(.x(10), immediate: stackAllowance)
        a.sub(scratch, scratch, .x(10))
        a.stur(scratch, table, offset: FunctionTableLayout.stackLimitOffset)
        a.add(startSP, .sp, immediate: 0)
        a.move(cursor, immediate: output)
        for step in steps {
            switch step {
            case let .call(index, arguments):
                precondition(arguments.count <= 6 && index < functions.count)
                for (i, value) in arguments.enumerated() { a.move(.x(UInt32(i)), immediate: UInt64(bitPattern: value)) }
                a.move(table, immediate: UInt64(tableAddress))
                a.ldr(table, table, offset: 8 * index)
                a.blr(table)
                a.str(.x(0), cursor, offset: 0)
                a.move(table, immediate: UInt64(tableAddress))
                a.ldur(.x(17), table, offset: FunctionTableLayout.overflowFlagOffset)
                a.str(.x(17), cursor, offset: 8)
                a.movz(.x(17), 0)
                a.stur(.x(17), table, offset: FunctionTableLayout.overflowFlagOffset)
                a.add(scratch, .sp, immediate: 0)
                a.sub(scratch, scratch, startSP)
                a.str(scratch, cursor, offset: 16)
                a.add(cursor, cursor, immediate: 24)
            case let .replace(index, code):
                precondition(index < functions.count)
                // Replacement code goes after everything placed so far; _start comes last.
                a.move(scratch, immediate: place(code))
                a.move(table, immediate: UInt64(tableAddress))
                a.str(scratch, table, offset: 8 * index)
            }
        }
        a.movz(.x(0), 1) // stdout
        a.move(.x(1), immediate: output)
        a.move(.x(2), immediate: UInt64(24 * callCount))
        a.movz(.x(8), 64) // write
        a.emit(0xD400_0001) // svc #0
        a.movz(.x(0), 0)
        a.movz(.x(8), 93) // exit
        a.emit(0xD400_0001)
        let entry = place(try a.finish())

        // Data: stack limit, overflow flag, table entries; the output buffer is zero-filled memory.
        var data = ELFObject.Writer()
        data.u64(0); data.u64(0)
        for address in entries { data.u64(address) }
        let dataMemory = Int(output - dataBase) + 24 * callCount

        let codeFileSize = functionsOffset + text.count
        let dataOffset = (codeFileSize + segmentAlignment - 1) / segmentAlignment * segmentAlignment
        var out = ELFObject.Writer()
        out.identification()
        out.u16(2); out.u16(ELFObject.machine(.arm64)); out.u32(1) // ET_EXEC, EM_AARCH64, EV_CURRENT
        out.u64(entry); out.u64(64); out.u64(0) // entry, phoff, shoff
        out.u32(0); out.u16(64); out.u16(56); out.u16(2); out.u16(64); out.u16(0); out.u16(0)
        func segment(flags: UInt32, offset: Int, address: UInt64, fileSize: Int, memorySize: Int) {
            out.u32(1); out.u32(flags) // PT_LOAD
            out.u64(UInt64(offset)); out.u64(address); out.u64(address)
            out.u64(UInt64(fileSize)); out.u64(UInt64(memorySize)); out.u64(UInt64(segmentAlignment))
        }
        segment(flags: 5, offset: 0, address: codeBase, fileSize: codeFileSize, memorySize: codeFileSize) // R+X
        segment(flags: 6, offset: dataOffset, address: dataBase, fileSize: data.bytes.count, memorySize: dataMemory) // R+W
        out.pad(to: functionsOffset)
        out.bytes += text
        out.pad(to: dataOffset)
        out.bytes += data.bytes
        return out.bytes
    }

    /// Builds the executable, runs it under qemu-aarch64 and returns one outcome per call.
    /// Throws a `Failure` (with qemu's stderr) when qemu is absent, the run exceeds
    /// `timeout` seconds, exits non-zero or prints the wrong amount of output.
    static func run(functions: [[UInt8]], steps: [Step], timeout: Double = 60) throws -> [Outcome] {
        guard let qemu = qemuPath else { throw Failure(description: "qemu-aarch64 not on PATH") }
        let image = try executable(functions: functions, steps: steps)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("toyjit-qemu-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(image).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = [url.path]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        // The output is a few hundred bytes and qemu's messages are short, so reading one
        // pipe after the other cannot block the child on a full pipe.
        let bytes = [UInt8](stdout.fileHandleForReading.readDataToEndOfFile())
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        let message = String(decoding: errors, as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw Failure(
                description:
                    "qemu-aarch64 ended with \(process.terminationReason == .exit ? "status" : "signal") \(process.terminationStatus): \(message)"
            )
        }
        let callCount = steps.filter { if case .call = $0 { true } else { false } }.count
        guard bytes.count == 24 * callCount else {
            throw Failure(description: "expected \(24 * callCount) bytes of output, got \(bytes.count): \(message)")
        }
        func word(_ i: Int) -> Int64 {
            (0 ..< 8).reduce(Int64(0)) { $0 | Int64(bytes[8 * i + $1]) << (8 * Int64($1)) }
        }
        return (0 ..< callCount).map {
            Outcome(value: word(3 * $0), overflowed: word(3 * $0 + 1) != 0, stackDrift: word(3 * $0 + 2))
        }
    }
}
