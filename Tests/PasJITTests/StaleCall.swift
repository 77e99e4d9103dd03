import PasJIT
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// How a child process that called a code address ended.
enum ChildOutcome: Equatable, CustomStringConvertible {
    /// Killed by this signal (what a stale call must do).
    case signal(Int32)
    /// Returned normally; the low byte of what the call returned.
    case returned(Int32)

    var description: String {
        switch self {
        case .signal(let s): return "killed by signal \(s)"
        case .returned(let v): return "returned \(v)"
        }
    }
}

/// Calls code addresses in a forked child, so that a call that faults kills the child, not the
/// test process.
///
/// On x86-64 the call goes through a trampoline that points `rax` at writable scratch memory
/// first: a page of zero bytes then decodes as `add %al,(%rax)` and slides into whatever
/// follows instead of faulting on a wild `rax`, which is the failure a stale call into a
/// decommitted page would meet in a real program.
final class StaleCaller {
    private let trampolines: JITHeap
    /// Written by the sliding `add %al,(%rax)`; never read.
    private let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

    init() throws {
        trampolines = try JITHeap(options: .init(regionSize: 1 << 20, protectionModes: [.dualMapped], pageSharing: nil))
    }

    deinit { scratch.deallocate() }

    /// Forks; the child calls `address` and exits with its result; returns how the child ended.
    func call(_ address: UInt) throws -> ChildOutcome {
        #if arch(x86_64)
        var code: [UInt8] = [0x48, 0xB8] // movabs rax, scratch
        code += withUnsafeBytes(of: UInt64(UInt(bitPattern: scratch)).littleEndian, Array.init)
        code += [0x49, 0xBB] // movabs r11, address
        code += withUnsafeBytes(of: UInt64(address).littleEndian, Array.init)
        code += [0x41, 0xFF, 0xE3] // jmp r11
        let entry = try trampolines.install(code).address
        defer { try? trampolines.deallocate(CodeBlock(address: entry)) }
        #else
        let entry = address
        #endif
        let pid = fork()
        if pid == 0 {
            // The child: default signal actions (the Swift runtime's crash handler would turn a
            // fault into an exit), no core file, then the call.
            for s in [SIGSEGV, SIGBUS, SIGTRAP, SIGILL] { signal(s, SIG_DFL) }
            var none = rlimit(rlim_cur: 0, rlim_max: 0)
            setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
            let f = unsafeBitCast(UnsafeRawPointer(bitPattern: entry)!, to: (@convention(c) () -> Int32).self)
            _exit(f() & 0x7F)
        }
        precondition(pid > 0, "fork failed: errno \(errno)")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7F
        return signal != 0 ? .signal(signal) : .returned((status >> 8) & 0xFF)
    }
}
