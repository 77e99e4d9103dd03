import Foundation
import Testing

/// Runs the object-heaps example on a small graph and checks what it reports.
@Suite struct ObjectHeapsExampleTests {
    @Test func exampleRunsAndReturnsMemory() throws {
        let exe = PasBenchSmokeTests.buildDirectory.appendingPathComponent("object-heaps")
        try #require(FileManager.default.isExecutableFile(atPath: exe.path), "object-heaps not built at \(exe.path)")
        let p = Process()
        p.executableURL = exe
        p.arguments = ["20000"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("graph intact: true"))
        #expect(!text.contains("graph intact: false"))
        #expect(text.contains("all heaps verified"))
        // The phase change empties whole pages; scavenging returns them.
        let returned = text.split(separator: "\n").last { $0.hasPrefix("after scavenging (") }
        let kib = returned.flatMap { Int($0.split(separator: "(")[1].split(separator: " ")[0]) } ?? 0
        #expect(kib > 0, "\(text)")
    }
}
