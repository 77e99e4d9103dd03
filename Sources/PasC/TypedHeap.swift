import Pas
import PasSystem

/// The heap behind a `pas_typed_heap*`: a `SingleClassHeap` (one size class, on small or
/// medium pages by object size) over a chunk source of its own, so its memory is never handed
/// to another heap while it lives (chunks are never returned; empty pages stay the heap's),
/// and the label its errors are reported with.
///
/// Every operation is the segregated heap's checked one. Thread-safety: as `SegregatedHeap`
/// (every method from any thread; deinitialising must not race with other uses).
final class CTypedHeap: Sendable {
    typealias Chunks = ReservationChunkSource<SystemPageSource>

    /// The objects' heap.
    let segregated: SingleClassHeap<Chunks>
    /// Prefix of the heap's error messages, e.g. `typed heap "Node"`.
    let label: String

    /// Creates the heap. Throws `.invalidSize` for 0 or sizes above 16 KiB after rounding,
    /// `.invalidAlignment` for an alignment that is not a power of two or above a page,
    /// `.outOfMemory` when the heap registry is full. Cost: a registry entry, one small mapping.
    init(objectSize: Int, alignment: Int, name: String?) throws(PasError) {
        segregated = try SingleClassHeap(
            chunks: Chunks(source: SystemPageSource.shared), objectSize: objectSize,
            alignment: alignment)
        label = name.map { "typed heap \"\($0)\"" } ?? "typed heap"
    }

    /// The heap's statistics. Cost: O(pages) under the heap lock.
    var statistics: CTypedHeapStatistics {
        CTypedHeapStatistics(objectSize: segregated.objectSize, alignment: segregated.alignment, pages: segregated.statistics)
    }

    /// Returns the calling thread's pages, then decommits every empty page; returns the bytes.
    func scavenge() throws(PasError) -> Int {
        segregated.flushThreadCache()
        return try segregated.decommitEmptyPages()
    }
}
