import Foundation

// pas-bench: Pas side by side with the allocators a runtime author would otherwise pick,
// measured in the same run. Release builds only: `swift run -c release pas-bench [--quick]`.

let arguments = Array(CommandLine.arguments.dropFirst())

func usage() -> Never {
    print(
        """
        usage: pas-bench [--quick] [--runs N] [--allocators a,b] [--json FILE] [--svg FILE] [workload|group ...]
        workloads: \(workloads.map(\.name).joined(separator: ", "))
        Each (workload, allocator, run) runs in a fresh child process; allocators are interleaved.
        """)
    exit(2)
}

if arguments.first == "--child" {
    // Child mode: --child WORKLOAD ALLOCATOR [--quick]
    guard arguments.count >= 3, let w = workloads.first(where: { $0.name == arguments[1] }) else { exit(2) }
    let quick = arguments.contains("--quick") || arguments.contains("--smoke")
    if arguments.contains("--smoke") { workScale = 0.002 }
    do {
        let ns = try w.run(arguments[2], quick)
        let r = RunResult(
            workload: w.name, allocator: arguments[2], run: 0, nsPerOp: ns, peakRSSMiB: peakRSSMiB(),
            extra: extraMetrics.isEmpty ? nil : extraMetrics)
        print(String(data: try JSONEncoder().encode(r), encoding: .utf8)!)
        exit(0)
    } catch {
        FileHandle.standardError.write("\(w.name)/\(arguments[2]): \(error)\n".data(using: .utf8)!)
        exit(1)
    }
}

var quick = false
var smoke = false
var runs: Int? = nil
var jsonPath: String? = nil
var svgPath = "pas-bench.svg"
var selected: [String] = []
var onlyAllocators: Set<String>? = nil
var i = 0
while i < arguments.count {
    switch arguments[i] {
    case "--quick": quick = true
    case "--smoke": smoke = true; quick = true
    case "--runs": i += 1; runs = i < arguments.count ? Int(arguments[i]) : nil; if runs == nil { usage() }
    case "--json": i += 1; jsonPath = i < arguments.count ? arguments[i] : nil
    case "--svg": i += 1; if i < arguments.count { svgPath = arguments[i] } else { usage() }
    case "--allocators":
        i += 1
        guard i < arguments.count else { usage() }
        onlyAllocators = Set(arguments[i].split(separator: ",").map(String.init))
    case "-h", "--help": usage()
    default: selected.append(arguments[i])
    }
    i += 1
}
// A selector names a workload or a group: "jit" selects every "jit-..." workload.
var chosen =
    selected.isEmpty
    ? workloads
    : workloads.filter { w in selected.contains { w.name == $0 || w.name.hasPrefix($0 + "-") } }
if let onlyAllocators {
    chosen = chosen.map {
        var w = $0; w.allocators = w.allocators.filter { onlyAllocators.contains($0) }; return w
    }
}
if chosen.isEmpty { usage() }

#if DEBUG
print("warning: pas-bench is a debug build; use `swift run -c release pas-bench`")
#endif

// Environment header.
func shell(_ command: String) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try? p.run()
    let d = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
print("# pas-bench \(quick ? "--quick " : "")on \(shell("date -u +%Y-%m-%dT%H:%MZ"))")
print(
    "# cpu: \(shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs")), \(ProcessInfo.processInfo.activeProcessorCount) cores"
)
print("# kernel: \(shell("uname -r")), glibc \(shell("ldd --version | head -1 | awk '{print $NF}'"))")
print(
    "# peers: \(shell("dpkg-query -W -f '${Package} ${Version}; ' libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libasmjit-dev 2>/dev/null"))"
)
print(
    "# calibration: free-list pop+push \(String(format: "%.2f", Calibration.freeListFloor(pairs: smoke ? 100_000 : 20_000_000))) ns (the fast-path floor on this CPU)"
)
let probeRounds = smoke ? 1000 : 200_000
print("# cache-line round trip cpu0<->cpu1 before: \(String(format: "%.0f", Calibration.pingPong(rounds: probeRounds))) ns")
let names = Set(chosen.flatMap(\.allocators))
for line in Peers.missingLines(for: names) { print("# \(line)") }

let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let driver = Driver(
    executable: selfPath,
    repetitions: runs ?? (quick ? 1 : 5), quick: quick, smoke: smoke)
var jsonLines: [String] = []
let results = driver.run(workloads: chosen) { line in
    if line.hasPrefix("#") { print(line) } else { jsonLines.append(line) }
}
print("# cache-line round trip cpu0<->cpu1 after: \(String(format: "%.0f", Calibration.pingPong(rounds: probeRounds))) ns")
let report = Report(results: results)
print("")
print(report.markdown())
for line in jsonLines { print(line) }
if let jsonPath { try? (jsonLines.joined(separator: "\n") + "\n").write(toFile: jsonPath, atomically: true, encoding: .utf8) }
try? report.svg().write(toFile: svgPath, atomically: true, encoding: .utf8)
print("# chart written to \(svgPath)")
