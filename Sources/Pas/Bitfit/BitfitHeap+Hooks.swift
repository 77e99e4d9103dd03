import PasSystem

/// Variants of the heap operations that run a caller's step on the object while the heap's
/// lock is held, so that a caller which must touch the object at the moment it is handed
/// out or taken back (the JIT heap copies code in, and fills freed code with traps) pays for
/// one lock round trip instead of two or three, and no other thread can allocate the
/// memory between the step and the bit update.
///
/// The step runs under the heap's lock: it must be short, must not call back into this
/// heap, and must not take a lock that is ever held while calling into this heap.
extension BitfitHeap {
    /// Allocates like `allocate(size:alignment:)`, then calls `initialize` with the object
    /// and its usable size before releasing the lock. If `initialize` throws, the object is
    /// freed again and the error is rethrown.
    @inlinable
    public func allocate(
        size: Int, alignment: Int = Config.granule,
        initialize: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) -> UnsafeMutableRawPointer {
        guard size > 0, size <= Config.maxObjectSize else { throw .invalidSize(.allocate, size) }
        guard Alignment.isPowerOfTwo(alignment), alignment <= Config.pageSize else {
            throw .invalidAlignment(.allocate, alignment)
        }
        let count = (size &+ Config.granule &- 1) &>> Config.granuleShift
        let alignGranules = max(1, alignment &>> Config.granuleShift)
        if alignGranules > 1 {
            let offset = Config.payloadOffsetGranules
            let first = ((offset &+ alignGranules &- 1) & ~(alignGranules &- 1)) &- offset
            guard first &+ count <= Config.payloadGranules else { throw .invalidAlignment(.allocate, alignment) }
        }
        directory.lock.lock()
        defer { directory.lock.unlock() }
        let p = try directory.allocateLocked(granules: count, alignGranules: alignGranules)
        do {
            try initialize(p, count &<< Config.granuleShift)
        } catch {
            // Invariant: p is the live object just allocated under this same lock hold.
            if let e = directory.entry(containing: UInt(bitPattern: p)) {
                let page = BitfitPage<Config>(e)
                let hint = e.pointee.largestFreeHint
                if case .objectStart(let start) = page.classify(UInt(bitPattern: p)) {
                    let freed = page.free(start: start, end: page.objectEnd(start))
                    directory.didFree(e, granules: freed, hintBefore: hint, object: true)
                }
            }
            throw error
        }
        return p
    }

    /// Frees the object at `pointer` like `deallocate(_:)`, first calling `retire` with the
    /// object and its usable size (for example to overwrite it) while the lock is held. If
    /// `retire` throws, the object stays allocated and the error is rethrown.
    @inlinable
    public func deallocate(
        _ pointer: UnsafeMutableRawPointer,
        retire: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) {
        let address = UInt(bitPattern: pointer)
        guard let e = directory.entry(containing: address) else { throw .unknownPointer(.deallocate, address: address) }
        directory.lock.lock()
        defer { directory.lock.unlock() }
        let start = try objectStart(e, address, .deallocate)
        let page = BitfitPage<Config>(e)
        let end = page.objectEnd(start)
        try retire(pointer, (end &- start &+ 1) &<< Config.granuleShift)
        let hint = e.pointee.largestFreeHint
        let count = page.free(start: start, end: end)
        directory.didFree(e, granules: count, hintBefore: hint, object: true)
    }

    /// Shrinks like `shrink(_:to:)`, first calling `retire` with the start and byte count of
    /// the tail about to be freed (if any) while the lock is held. Returns the new usable size.
    @inlinable
    public func shrink(
        _ pointer: UnsafeMutableRawPointer, to newSize: Int,
        retire: (UnsafeMutableRawPointer, Int) throws(PasError) -> Void
    ) throws(PasError) -> Int {
        let address = UInt(bitPattern: pointer)
        guard let e = directory.entry(containing: address) else { throw .unknownPointer(.shrink, address: address) }
        guard newSize > 0, newSize <= Config.maxObjectSize else { throw .invalidSize(.shrink, newSize) }
        let count = (newSize &+ Config.granule &- 1) &>> Config.granuleShift
        directory.lock.lock()
        defer { directory.lock.unlock() }
        let start = try objectStart(e, address, .shrink)
        let page = BitfitPage<Config>(e)
        let end = page.objectEnd(start)
        let old = end &- start &+ 1
        guard count <= old else { throw .invalidSize(.shrink, newSize) }
        if count < old {
            try retire(pointer + (count &<< Config.granuleShift), (old &- count) &<< Config.granuleShift)
            let hint = e.pointee.largestFreeHint
            let freed = page.shrink(start: start, end: end, to: count)
            if freed > 0 { directory.didFree(e, granules: freed, hintBefore: hint, object: false) }
        }
        return count &<< Config.granuleShift
    }
}
