import Foundation
import Testing

/// Runs every pas-bench workload with tiny sizes and checks the output: this is not a
/// performance test, it only proves each workload runs, for each allocator found here, and
/// that the report parses with finite figures.
@Suite struct PasBenchSmokeTests {
    static var buildDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }

    @Test func everyWorkloadRunsAndReportsFiniteFigures() throws {
        let bench = Self.buildDirectory.appendingPathComponent("pas-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "pas-bench not built at \(bench.path)")
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("pas-bench-smoke-\(getpid()).svg")
        let p = Process()
        p.executableURL = bench
        p.arguments = ["--smoke", "--svg", svg.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let text = String(decoding: data, as: UTF8.self)
        #expect(!text.contains("failed"), "a workload failed:\n\(text)")

        // JSON lines: one per (workload, allocator) with a finite, non-negative figure.
        var workloads = Set<String>(), pasRuns = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let value = try #require(object["nsPerOp"] as? Double)
            #expect(value.isFinite && value >= 0, "\(line)")
            let workload = try #require(object["workload"] as? String)
            workloads.insert(workload)
            if let a = object["allocator"] as? String, a.hasPrefix("pas") { pasRuns.insert(workload) }
        }
        #expect(workloads.count >= 20, "only \(workloads.count) workloads reported")
        #expect(workloads.contains("jit-publish") && workloads.contains("large-buffers") && workloads.contains("malloc-hot-64"))

        // The table: every ratio of a workload Pas ran in is a finite number.
        for line in text.split(separator: "\n")
        where line.hasPrefix("| ") && !line.hasPrefix("| workload") && !line.hasPrefix("| ---") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 6, pasRuns.contains(cells[0]) else { continue }
            let ratio = cells[5]
            if ratio == "—" { continue }
            let value = try #require(Double(ratio), "ratio '\(ratio)' in: \(line)")
            #expect(value.isFinite && value > 0, "\(line)")
        }
        let chart = try String(contentsOf: svg, encoding: .utf8)
        #expect(chart.hasPrefix("<svg"))
        try? FileManager.default.removeItem(at: svg)
    }
}
