#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Peak resident set size of this process in MiB (VmHWM).
func peakRSSMiB() -> Double {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(cString: line)
        if s.hasPrefix("VmHWM:") {
            let kb = s.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
    }
    return 0
}

/// xorshift64*: the workloads' random numbers, identical in every allocator's run.
struct Random {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    @inline(__always)
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    /// Uniform in lo...hi.
    @inline(__always)
    mutating func uniform(_ lo: Int, _ hi: Int) -> Int { lo &+ Int(next() % UInt64(hi &- lo &+ 1)) }
    /// Log-uniform in lo...hi.
    mutating func logUniform(_ lo: Int, _ hi: Int) -> Int {
        let a = log2(Double(lo)), b = log2(Double(hi))
        let u = Double(next() >> 11) / Double(1 << 53)
        return min(hi, max(lo, Int(exp2(a + (b - a) * u))))
    }
}

/// Work is multiplied by this in `--smoke` runs (tiny sizes, for the test that checks every
/// workload runs and reports finite figures).
nonisolated(unsafe) var workScale = 1.0

/// `n` scaled by `workScale`, at least 1.
@inline(__always)
func scaled(_ n: Int) -> Int { max(1, Int(Double(n) * workScale)) }
