import PasSystem

/// Variants of `deallocate` and `shrink` that run a caller's step on the memory being freed
/// while the heap's lock is held, after the pointer has been validated and before the memory
/// returns to the free store. The JIT heap overwrites freed code with traps this way: a free
/// that loses a race (a double free) fails validation and touches nothing, and no other
/// thread can allocate the memory while the step runs.
///
/// The step runs under the heap's lock: it must not call back into this heap and must not
/// take a lock that is ever held while calling into this heap. It may be long (a fill of the
/// whole object), which delays every other operation on the heap meanwhile.
extension LargeHeap {
    /// Frees the object that starts at `pointer` like `deallocate(_:)`, first calling `retire`
    /// with the object and its size. Errors as for `deallocate(_:)`; `retire` is not called
    /// then. If `retire` throws, the object stays allocated and the error is rethrown.
    public func deallocate(
        _ pointer: UnsafeMutableRawPointer,
        retire: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) {
        let address = UInt(bitPattern: pointer)
        lock.lock()
        defer { lock.unlock() }
        guard core != nil else { throw .unknownPointer(.deallocate, address: address) }
        // Reserve the node the free needs first, so that nothing fails after `retire` ran.
        try core!.pool.reserve(1)
        guard let slot = core!.map.find(address) else { throw core!.misuse(address, .deallocate) }
        try retire(pointer, Int(core!.map[slot: slot].size))
        let now = time.nowNanoseconds()
        try core!.deallocate(address, now: now)
        noteFreePages(since: core!.epoch)
    }

    /// Shrinks the live object at `pointer` like `shrink(_:to:)`, first calling `retire` with
    /// the start and size of the tail about to be freed (if any). Errors as for
    /// `shrink(_:to:)`; `retire` is not called then. If `retire` throws, the object keeps its size.
    public func shrink(
        _ pointer: UnsafeMutableRawPointer, to newSize: Int,
        retire: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) {
        let address = UInt(bitPattern: pointer)
        guard newSize > 0, newSize <= Self.maxObjectSize, let rounded = Alignment.roundUp(newSize, to: granule) else {
            throw .invalidSize(.shrink, newSize)
        }
        lock.lock()
        defer { lock.unlock() }
        guard core != nil else { throw .unknownPointer(.shrink, address: address) }
        try core!.pool.reserve(1)
        guard let slot = core!.map.find(address) else { throw core!.misuse(address, .shrink) }
        let old = Int(core!.map[slot: slot].size)
        guard rounded <= old else { throw .invalidSize(.shrink, newSize) }
        if rounded < old { try retire(pointer + rounded, old - rounded) }
        let now = time.nowNanoseconds()
        if try core!.shrink(address, to: rounded, requested: newSize, now: now) { noteFreePages(since: core!.epoch) }
    }
}
