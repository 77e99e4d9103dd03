import Pas
import PasSystem

/// The heap behind a `pas_typed_heap*`: a segregated heap with one size class over a chunk
/// source of its own, so its memory is never handed to another heap while it lives (chunks
/// are never returned; empty pages stay the heap's).
///
/// Objects up to `SmallPagesConfig.maxObjectSize` bytes (after rounding) use small pages,
/// larger ones (up to `MediumPagesConfig.maxObjectSize`) medium pages; exactly one of
/// `small` and `medium` is set.
///
/// Every operation is the segregated heap's checked one. Thread-safety: as `SegregatedHeap`
/// (every method from any thread; deinitialising must not race with other uses).
final class CTypedHeap: @unchecked Sendable {
    typealias Chunks = ReservationChunkSource<SystemPageSource>

    let small: SegregatedHeap<SmallPagesConfig, Chunks>?
    let medium: SegregatedHeap<MediumPagesConfig, Chunks>?
    /// Bytes of each object (the class size).
    let objectSize: Int
    /// Alignment of every object (at least 16).
    let alignment: Int
    /// Prefix of the heap's error messages, e.g. `typed heap "Node"`.
    let label: String

    /// Creates the heap. Throws `.invalidSize` for 0 or sizes above 16 KiB after rounding,
    /// `.invalidAlignment` for an alignment that is not a power of two or above a page,
    /// `.outOfMemory` when the heap registry is full. Cost: a registry entry, one small mapping.
    init(objectSize requested: Int, alignment requestedAlignment: Int, name: String?) throws(PasError) {
        guard Alignment.isPowerOfTwo(requestedAlignment), requestedAlignment <= MediumPagesConfig.layout.pageSize else {
            throw .invalidAlignment(.allocate, requestedAlignment)
        }
        let align = max(requestedAlignment, SizeClasses.minAlign)
        guard requested > 0, let size = Alignment.roundUp(requested, to: align),
              size <= MediumPagesConfig.maxObjectSize else { throw .invalidSize(.allocate, requested) }
        let chunks = Chunks(source: SystemPageSource.shared)
        if size <= SmallPagesConfig.maxObjectSize {
            small = try SegregatedHeap(chunks: chunks, objectSize: size, alignment: align)
            medium = nil
        } else {
            small = nil
            medium = try SegregatedHeap(chunks: chunks, objectSize: size, alignment: align)
        }
        objectSize = size
        alignment = align
        label = name.map { "typed heap \"\($0)\"" } ?? "typed heap"
    }

    /// One object. Cost: a pop from the thread's cache; the heap lock on refill.
    func allocate() throws(PasError) -> UnsafeMutableRawPointer {
        if let small { return try small.allocate(size: objectSize) }
        return try medium.unsafelyUnwrapped.allocate(size: objectSize)
    }

    /// Frees an object, checked (`.unknownPointer`, `.doubleFree`). Cost: the heap lock.
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        if let small { try small.deallocate(pointer) } else { try medium.unsafelyUnwrapped.deallocate(pointer) }
    }

    /// The heap's statistics. Cost: O(pages) under the heap lock.
    var statistics: CTypedHeapStatistics {
        let pages = small?.statistics ?? medium.unsafelyUnwrapped.statistics
        return CTypedHeapStatistics(objectSize: objectSize, alignment: alignment, pages: pages)
    }

    /// Returns the calling thread's pages, then decommits every empty page; returns the bytes.
    func scavenge() throws(PasError) -> Int {
        if let small {
            small.flushThreadCache()
            return try small.decommitEmptyPages()
        }
        let medium = medium.unsafelyUnwrapped
        medium.flushThreadCache()
        return try medium.decommitEmptyPages()
    }

    /// Checks the heap's invariants.
    func verify() throws(PasError) {
        if let small { try small.verify() } else { try medium.unsafelyUnwrapped.verify() }
    }
}
