#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import CPasShim

/// Making freshly written instructions visible to instruction fetch.
///
/// Thread-safety: any thread; it affects the calling thread's view (other threads run the
/// new code only after synchronising with the writer).
@usableFromInline
package enum InstructionCache {
    /// Flushes `range` from the caches between data writes and instruction fetch: a compiler
    /// fence on x86-64 (coherent instruction cache), cache maintenance on arm64
    /// (`__builtin___clear_cache`). Cost: nothing on x86-64; per cache line on arm64. Inlined.
    @inlinable @inline(__always)
    package static func flush(_ range: MemoryRange) {
        pas_shim_flush_icache(range.pointer, range.pointer + range.byteCount)
    }
}
#endif
