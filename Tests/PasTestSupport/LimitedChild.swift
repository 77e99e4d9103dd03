import Foundation

/// Runs the test executable again under an address-space limit (`ulimit -v`), with only one
/// suite selected, so that the limit never touches the other tests of the run.
///
/// The child suite is enabled only when `environmentKey` is "1" in its environment, which this
/// function sets; everywhere else it is skipped.
public enum LimitedChild {
    /// What the child printed and how it ended.
    public struct Result: Sendable {
        /// The child's exit status (the shell's, so 128 + n for a child killed by signal n).
        public var status: Int32
        /// Standard output and standard error, interleaved.
        public var output: String
        /// True if the child ran `suite` and reported no failed expectation.
        public var passed: Bool { status == 0 && output.contains(suiteName) && !output.contains("✘") }
        let suiteName: String
    }

    /// Runs `suite` of this test executable under `ulimit -v kibibytes`, setting
    /// `environmentKey=1`; waits for it and returns its status and combined output.
    public static func run(suite: String, environmentKey: String, kibibytes: Int = 4_000_000) throws -> Result {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(kibibytes); exec \"$0\" --testing-library swift-testing --filter \(suite)", exe]
        var environment = ProcessInfo.processInfo.environment
        environment[environmentKey] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: output, suiteName: suite)
    }
}
