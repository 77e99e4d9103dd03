import Foundation

/// One measured run, as the child process reports it on its last line of output.
struct RunResult: Codable {
    var workload: String
    var allocator: String
    var run: Int
    /// Nanoseconds per operation (the workload defines the operation).
    var nsPerOp: Double
    /// Peak resident set size of the child process, MiB.
    var peakRSSMiB: Double
    /// Other figures the workload reports (for example metadata per live byte).
    var extra: [String: Double]? = nil
}

/// An allocator a workload can run against.
struct Peer {
    var name: String
    /// Library to preload into the child, or nil for an in-process allocator.
    var preload: String?
    /// How to get it when it is missing.
    var install: String
}

/// Runs every (workload, allocator, repetition) in a fresh child process, interleaving
/// allocators inside each repetition, and collects the results.
struct Driver {
    var executable: String
    var repetitions: Int
    var quick: Bool
    /// Tiny sizes, for the smoke test.
    var smoke = false

    func run(workloads: [Workload], log: (String) -> Void) -> [RunResult] {
        var results: [RunResult] = []
        for rep in 0 ..< repetitions {
            for workload in workloads {
                let peers = workload.allocators
                // Rotate the order each repetition to spread slow drifts of the machine.
                for k in 0 ..< peers.count {
                    let allocator = peers[(k + rep) % peers.count]
                    guard let preload = Peers.available(allocator) else { continue }
                    if var r = runChild(workload: workload.name, allocator: allocator, preload: preload) {
                        r.run = rep
                        results.append(r)
                        log(String(data: try! JSONEncoder().encode(r), encoding: .utf8)!)
                    } else {
                        log("# \(workload.name)/\(allocator) run \(rep) failed")
                    }
                }
            }
        }
        return results
    }

    func runChild(workload: String, allocator: String, preload: String?) -> RunResult? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["--child", workload, allocator] + (smoke ? ["--smoke"] : quick ? ["--quick"] : [])
        var env = ProcessInfo.processInfo.environment
        if let preload, !preload.isEmpty { env["LD_PRELOAD"] = preload } else { env.removeValue(forKey: "LD_PRELOAD") }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        do { try p.run() } catch { return nil }
        // A child that hangs (a deadlocked allocator, say) is killed after the time limit, so one
        // bad run costs a line in the report, not the whole benchmark.
        let limit: Double = smoke ? 60 : quick ? 300 : 900
        let watchdog = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        watchdog.cancel()
        guard p.terminationStatus == 0,
            let text = String(data: data, encoding: .utf8),
            let line = text.split(separator: "\n").last
        else { return nil }
        return try? JSONDecoder().decode(RunResult.self, from: Data(line.utf8))
    }
}

/// The peers users would otherwise pick, found on this machine.
enum Peers {
    static let all: [Peer] = [
        Peer(name: "glibc", preload: "", install: "(always present)"),
        Peer(name: "mimalloc", preload: "libmimalloc.so.2", install: "apt-get install libmimalloc2.0"),
        Peer(name: "jemalloc", preload: "libjemalloc.so.2", install: "apt-get install libjemalloc2"),
        Peer(name: "tcmalloc", preload: "libtcmalloc_minimal.so.4", install: "apt-get install libtcmalloc-minimal4"),
    ]

    /// The library to preload for `name` ("" for none), or nil if the peer is missing.
    static func available(_ name: String) -> String?? {
        if let peer = all.first(where: { $0.name == name }) {
            guard let lib = peer.preload, !lib.isEmpty else { return .some(nil) }
            return findLibrary(lib).map { .some($0) } ?? nil
        }
        if name == "asmjit" { return AsmjitPeer.isAvailable ? .some(nil) : nil }
        if name == "pas-preload" { return pasPreloadLibrary.map { .some($0) } ?? nil }
        return .some(nil) // in-process allocators (pas, mmap)
    }

    static func findLibrary(_ file: String) -> String? {
        for dir in ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"] {
            let path = dir + "/" + file
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// Pas's malloc-compatible library, built beside this executable
    /// (`swift build -c release --product pasmalloc`).
    static let pasPreloadLibrary: String? = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("libpasmalloc.so").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    /// Lines telling how to install each missing peer.
    static func missingLines(for names: Set<String>) -> [String] {
        var lines: [String] = []
        for peer in all where names.contains(peer.name) && available(peer.name) == nil {
            lines.append("skipped \(peer.name): not installed (\(peer.install))")
        }
        if names.contains("pas-preload") && pasPreloadLibrary == nil {
            lines.append("skipped pas-preload: libpasmalloc.so not built (swift build -c release --product pasmalloc)")
        }
        if names.contains("asmjit") && !AsmjitPeer.isAvailable {
            lines.append("skipped asmjit: \(AsmjitPeer.unavailableReason)")
        }
        return lines
    }
}
