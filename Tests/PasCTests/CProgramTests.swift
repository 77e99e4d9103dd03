import Testing
import Foundation

/// Where the C program's inputs are: the system C compiler, the header, the built library.
enum CToolchain {
    /// `cc`, `gcc` or `clang` on PATH (in that order), or nil.
    static let compiler: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["cc", "gcc", "clang"] {
            for dir in path.split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }()

    /// The package root, from this file's path (Tests/PasCTests/CProgramTests.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var includeDirectory: String { packageRoot.appendingPathComponent("Sources/PasC/include").path }
    /// A C program of Tests/PasCTests/CProgram, by file name.
    static func programSource(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/PasCTests/CProgram/\(name)").path
    }

    /// The build directory the test bundle runs from (`.build/<triple>/debug`), where
    /// SwiftPM puts libPasC.so.
    static var buildDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Runs `executable` with `arguments`; returns its exit status and its output (stdout + stderr).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

@Suite struct CProgramTests {
    /// Compiles a program of Tests/PasCTests/CProgram against pas.h and libPasC.so with the
    /// system C compiler and runs it; it prints each failed check.
    @Test(
        .enabled(if: CToolchain.compiler != nil, "no C compiler (cc, gcc, clang) on PATH"),
        arguments: ["pas_c_api_test.c", "pas_heap_test.c"])
    func cProgramPasses(source: String) throws {
        let compiler = try #require(CToolchain.compiler)
        let buildDir = CToolchain.buildDirectory
        let library = buildDir.appendingPathComponent("libPasC.so")
        #expect(
            FileManager.default.fileExists(atPath: library.path),
            "libPasC.so not found in \(buildDir.path); swift test should build the dynamic product")
        let name = String(source.dropLast(2))
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pasc-test-\(getpid())-\(name)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let program = work.appendingPathComponent(name).path
        let (compileStatus, compileOutput) = try CToolchain.run(
            compiler,
            [
                "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1",
                "-I", CToolchain.includeDirectory, CToolchain.programSource(source), "-o", program,
                "-L", buildDir.path, "-lPasC", "-Wl,-rpath,\(buildDir.path)", "-pthread",
            ])
        try #require(compileStatus == 0, "compiling \(source) failed:\n\(compileOutput)")
        let (status, output) = try CToolchain.run(program, [])
        #expect(status == 0, "\(source) failed (status \(status)):\n\(output)")
        #expect(output.contains(", 0 failed"), "\(source) output:\n\(output)")
    }

    /// The header compiles as pedantic C11, and as C++ (extern "C", static_assert) when a C++
    /// compiler exists.
    @Test(.enabled(if: CToolchain.compiler != nil, "no C compiler on PATH"))
    func headerCompilesAsCAndCPlusPlus() throws {
        let compiler = try #require(CToolchain.compiler)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pasc-header-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let source = work.appendingPathComponent("include_all.c")
        // Syntax only: the layout itself is checked by CLayoutTests, which runs a program.
        try "#include \"pas.h\"\nint main(void) { return 0; }\n"
            .write(to: source, atomically: true, encoding: .utf8)
        let (cStatus, cOutput) = try CToolchain.run(
            compiler,
            [
                "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only",
                "-I", CToolchain.includeDirectory, source.path,
            ])
        #expect(cStatus == 0, "pas.h as C11:\n\(cOutput)")
        let cxx = ["c++", "g++", "clang++"].lazy.compactMap { name -> String? in
            let dir = URL(fileURLWithPath: compiler).deletingLastPathComponent()
            let path = dir.appendingPathComponent(name).path
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }.first
        guard let cxx else { return }
        let (status, output) = try CToolchain.run(
            cxx,
            [
                "-x", "c++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                "-I", CToolchain.includeDirectory, source.path,
            ])
        #expect(status == 0, "pas.h as C++11:\n\(output)")
    }
}
