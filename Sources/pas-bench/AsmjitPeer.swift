import Foundation

/// asmjit's JitAllocator as a peer: `Peers/asmjit_peer.cpp` is compiled once per machine
/// (into the system temp directory) when g++ and libasmjit-dev are present.
enum AsmjitPeer {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Peers/asmjit_peer.cpp").path
    /// Keyed by the source's size and modification time so an edited peer is rebuilt.
    static let binary: String = {
        let attributes = try? FileManager.default.attributesOfItem(atPath: source)
        let stamp = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let size = (attributes?[.size] as? Int) ?? 0
        return NSTemporaryDirectory() + "/pas-bench-asmjit-peer-\(size)-\(Int(stamp))"
    }()

    static var unavailableReason: String {
        if !FileManager.default.fileExists(atPath: "/usr/include/asmjit/core.h") {
            return "not installed (apt-get install libasmjit-dev g++)"
        }
        return "could not build \(source) with g++"
    }

    static let isAvailable: Bool = {
        guard FileManager.default.fileExists(atPath: "/usr/include/asmjit/core.h"),
            FileManager.default.fileExists(atPath: source)
        else { return false }
        if FileManager.default.fileExists(atPath: binary) { return true }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["g++", "-O2", "-o", binary, source, "-lasmjit", "-lrt", "-lpthread"]
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    struct Failure: Error { var message: String }

    /// Runs the peer's workload; nanoseconds per step.
    static func run(shape: String, ops: Int) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = [shape, String(ops)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let v = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw Failure(message: "asmjit peer failed")
        }
        return v
    }
}
