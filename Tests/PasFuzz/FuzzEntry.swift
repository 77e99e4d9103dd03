#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasJIT
import PasSystem

/// Which API a fuzz input drives.
public enum FuzzTarget: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case jitHeap, pasHeapChecked, mallocPaths
    /// The target's name, as failure messages print it.
    public var description: String { ["JITHeap", "PasHeap (checked)", "PasHeap (malloc paths)"][Int(rawValue)] }
}

/// The heaps fuzz sequences run on. A sequence leaves its heap empty (`finish`), so one set
/// serves many inputs; the libFuzzer entry point keeps one per process (a heap per input
/// would use up the process's segregated heap registry).
public final class FuzzHeaps: @unchecked Sendable {
    /// The heap `.jitHeap` inputs run on.
    public let jit: JITHeap
    /// The heap `.pasHeapChecked` and `.mallocPaths` inputs run on.
    public let general: PasHeap

    /// Creates both heaps (`JITHeapSequence.makeHeap()`, `PasHeapSequence.makeHeap()`);
    /// throws if either cannot reserve its address space.
    public init() throws(PasError) {
        jit = try JITHeapSequence.makeHeap()
        general = try PasHeapSequence.makeHeap()
    }
}

/// Runs fuzz inputs: the first byte picks the target (unless given), the rest is the
/// sequence. Returns the first failure, or nil when every check held.
public enum FuzzRunner {
    /// Steps per input, so an input's run time stays bounded.
    public static let maxSteps = 400

    /// Runs `bytes` (at most `maxSteps` steps) on the target's heap, then frees every block it
    /// allocated and checks that the heap is empty. Returns the first failure (the heap may then
    /// still hold blocks), or nil.
    /// Not thread-safe: inputs on the same `heaps` must run one at a time.
    public static func run(_ bytes: [UInt8], on heaps: FuzzHeaps, target: FuzzTarget? = nil) -> FuzzFailure? {
        var input = FuzzInput(bytes)
        let chosen = target ?? FuzzTarget(rawValue: input.byte() % UInt8(FuzzTarget.allCases.count))!
        do throws(FuzzFailure) {
            switch chosen {
            case .jitHeap:
                var sequence = JITHeapSequence(heap: heaps.jit)
                try sequence.run(&input, maxSteps: maxSteps)
                try sequence.finish()
            case .pasHeapChecked, .mallocPaths:
                var sequence = PasHeapSequence(heap: heaps.general, paths: chosen == .mallocPaths ? .malloc : .checked)
                try sequence.run(&input, maxSteps: maxSteps)
                try sequence.finish()
            }
        } catch {
            return error
        }
        return nil
    }
}

/// The process's heaps for libFuzzer (created on the first input).
let processFuzzHeaps: FuzzHeaps = {
    do throws(PasError) { return try FuzzHeaps() } catch { fatalError("fuzz heaps: \(error)") }
}()

/// libFuzzer's entry point (scripts/fuzz.sh links it with -sanitize=fuzzer). A failed check
/// prints the failure and aborts, so libFuzzer keeps the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func pasFuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // Invariant: libFuzzer passes `size` readable bytes at `data` (data may be NULL when size is 0).
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let failure = FuzzRunner.run(bytes, on: processFuzzHeaps) {
        let target = bytes.first.map { FuzzTarget(rawValue: $0 % UInt8(FuzzTarget.allCases.count))!.description } ?? "?"
        let message = "pas-fuzz: \(target): \(failure)\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        abort()
    }
    return 0
}
