#if canImport(Glibc)
import Glibc
#endif
import Pas

/// The cages of the malloc library's heaps, and what it says when it cannot have the default.
///
/// The main heap asks for `PasHeap.defaultCageBytes` (1 TiB of address space). When that
/// cannot be reserved (an address-space limit such as `ulimit -v`, or a small address space)
/// it takes the largest cage that can be, less 1/16 left for the program's other mappings, but
/// at least `minimumBytes` (see `PasHeap.init(cageBytes:minimumCageBytes:...)`), and writes one
/// line to stderr saying so. The auxiliary heap (maintenance allocations only) then takes
/// `auxiliaryLimitedBytes` instead of `auxiliaryBytes`, so it does not eat the budget. If not
/// even `minimumBytes` fits, the library says so and every allocation is served from the
/// start-up arena (64 MiB, never reused) until it runs out.
///
/// Thread-safety: called once, by the thread that creates the heap.
enum MallocCage {
    /// The smallest main cage the library accepts before giving up.
    static let minimumBytes = 256 << 20
    /// The auxiliary heap's cage with the default main cage.
    static let auxiliaryBytes = 1 << 30
    /// The auxiliary heap's cage when the main cage had to shrink.
    static let auxiliaryLimitedBytes = 64 << 20

    /// Writes "pasmalloc: address space limited: heap cage <n> MiB instead of <m> MiB" to
    /// stderr with one write(2); allocates nothing.
    static func reportShrunk(to bytes: Int) {
        var line = DiagnosticLine()
        line.append("pasmalloc: address space limited: heap cage ")
        line.append(number: bytes >> 20)
        line.append(" MiB instead of ")
        line.append(number: PasHeap.defaultCageBytes >> 20)
        line.append(" MiB\n")
        line.write()
    }

    /// Writes the line that says no heap could be created at all.
    static func reportNoHeap() {
        var line = DiagnosticLine()
        line.append("pasmalloc: address space exhausted: not even a ")
        line.append(number: minimumBytes >> 20)
        line.append(" MiB heap cage fits; allocations come from the start-up arena\n")
        line.write()
    }
}

/// A line of at most 192 bytes built in place (no allocation) and written to stderr.
struct DiagnosticLine {
    var storage:
        (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0

    mutating func append(byte: UInt8) {
        guard count < 192 else { return }
        let index = count
        // Invariant: index < 192 = MemoryLayout.size(ofValue: storage).
        withUnsafeMutableBytes(of: &storage) { $0[index] = byte }
        count += 1
    }

    mutating func append(_ text: StaticString) {
        // Invariant: a StaticString's UTF-8 storage is immutable and lives for the process.
        let start = text.utf8Start
        for i in 0 ..< text.utf8CodeUnitCount { append(byte: start[i]) }
    }

    mutating func append(number: Int) {
        var value = UInt(bitPattern: number)
        var divisor: UInt = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            append(byte: UInt8(48 + value / divisor))
            value %= divisor
            divisor /= 10
        }
    }

    mutating func write() {
        let n = count
        withUnsafeBytes(of: &storage) { _ = Glibc.write(2, $0.baseAddress, n) }
    }
}
