#if canImport(Glibc)
import Glibc
#endif

/// Runs code in a forked child process and waits for it with a deadline, so that a child that
/// deadlocks is a test failure instead of a hung test run.
///
/// The child runs `body` and ends with `_exit` (no atexit handlers, no Swift Testing teardown in
/// the child); `body` returns the exit code. The test process is multithreaded (Swift Testing
/// runs tests in parallel), so the child should call only what the test needs.
public enum ForkedChild {
    /// How a child ended.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        /// Exited with this code.
        case exited(Int32)
        /// Killed by this signal (not by the deadline).
        case signalled(Int32)
        /// Still running at the deadline; it was killed.
        case timedOut
        /// `fork` failed with this errno.
        case forkFailed(Int32)

        /// The outcome in words, for expectation messages.
        public var description: String {
            switch self {
            case .exited(let c): return "exited(\(c))"
            case .signalled(let s): return "signalled(\(s))"
            case .timedOut: return "timed out (deadlock?)"
            case .forkFailed(let e): return "fork failed (errno \(e))"
            }
        }
    }

    /// A started child: wait for it with `wait(timeoutSeconds:)`.
    public struct Handle: Sendable {
        /// The child's process id.
        public let pid: pid_t

        /// Waits for the child at most `timeoutSeconds`; kills it (SIGKILL) past that.
        public func wait(timeoutSeconds: Double) -> Outcome {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let start = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
            var status: Int32 = 0
            while true {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { break }
                if r < 0 && errno != EINTR { return .exited(-1) }
                clock_gettime(CLOCK_MONOTONIC, &ts)
                if Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 - start > timeoutSeconds {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &status, 0)
                    return .timedOut
                }
                usleep(2000)
            }
            if status & 0x7F == 0 { return .exited((status >> 8) & 0xFF) }
            return .signalled(status & 0x7F)
        }
    }

    /// Forks; the child runs `body` and `_exit`s with its result. Returns the child's handle.
    public static func start(_ body: () -> Int32) -> Result<Handle, ForkFailure> {
        let pid = fork()
        if pid < 0 { return .failure(ForkFailure(errno: errno)) }
        if pid == 0 { _exit(body()) }
        return .success(Handle(pid: pid))
    }

    /// Forks, runs `body` in the child and waits for it (see `Handle.wait`).
    public static func run(timeoutSeconds: Double = 10, _ body: () -> Int32) -> Outcome {
        switch start(body) {
        case .success(let h): return h.wait(timeoutSeconds: timeoutSeconds)
        case .failure(let f): return .forkFailed(f.errno)
        }
    }

    /// `fork` failed.
    public struct ForkFailure: Error, Sendable {
        /// The `errno` that `fork` set.
        public let errno: Int32
    }
}

/// A pipe for telling a forked child when to go on (one byte).
///
/// Create it before forking, so that parent and child share it; each end is a plain file
/// descriptor, used from one thread at a time.
public struct ForkSignalPipe: Sendable {
    /// The descriptor `waitForSignal()` reads from.
    public let readEnd: Int32
    /// The descriptor `signal()` writes to.
    public let writeEnd: Int32

    /// Opens the pipe (one `pipe` call).
    public init() {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    /// Sends one byte.
    public func signal() { var b: UInt8 = 1; _ = write(writeEnd, &b, 1) }

    /// Waits for one byte; false on end of file or error.
    public func waitForSignal() -> Bool {
        var b: UInt8 = 0
        while true {
            let n = read(readEnd, &b, 1)
            if n == 1 { return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    /// Closes both ends in this process.
    public func close() { _ = Glibc.close(readEnd); _ = Glibc.close(writeEnd) }
}
