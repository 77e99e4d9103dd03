#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasSystem

/// Moves a non-Sendable value (a pointer, an array of pointers) into another thread.
/// Invariant: the tests hand each value to one thread at a time.
struct Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

typealias SmallHeap = SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>
typealias MediumHeap = SegregatedHeap<MediumPagesConfig, ReservationChunkSource<SystemPageSource>>
