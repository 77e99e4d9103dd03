import PasSystem

/// The checked API: every bad input is a typed `PasError`. Costs the heap lock for an O(chunks)
/// ownership check and the page's lock per call; meant for debugging, tests and untrusted
/// callers.
extension SegregatedHeap {
    /// Allocates `size` bytes, 16-byte aligned.
    /// Throws `.invalidSize` for sizes outside 1 ... `maxObjectSize`, or the chunk source's error
    /// (`.outOfMemory`, `.system(.commit, ...)`). Fast path as `allocateUnchecked`. Thread-safe.
    @inlinable
    public func allocate(size: Int) throws(PasError) -> UnsafeMutableRawPointer {
        guard UInt(bitPattern: size &- 1) < UInt(bitPattern: sizeLimit) else { throw .invalidSize(.allocate, size) }
        let classIndex = Int(sizeTable[(size &- 1) &>> SizeClasses.minAlignShift])
        if let p = popLocal(classIndex: classIndex) { return p }
        return try allocateSlow(classIndex: classIndex)
    }

    /// Frees `pointer`, checking it first: `.unknownPointer` if this heap did not allocate it or
    /// it points inside an object, `.doubleFree` if it is already free (in a page's bitmaps, in
    /// the owning thread's pool or window, or in the calling thread's pending log). Thread-safe;
    /// flushes the calling thread's deallocation log, then takes the heap lock (to check the
    /// pointer's chunk) and the page's lock.
    ///
    /// Double frees through `deallocateUnchecked` are a broken precondition; the heap still
    /// catches most of them when it applies a log or merges remote frees (counted in
    /// `statistics.lateDoubleFrees` and ignored), but not all.
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        let address = UInt(bitPattern: pointer)
        let cache = ThreadCache.current
        if let cache { ThreadCache.flushLog(cache) }
        var held: UnsafeMutablePointer<FutexLock>? = nil
        defer { PageLock.release(&held) }
        let (page, slot) = try validateAndLock(address, for: .deallocate, holding: &held)
        let word = slot >> 6
        let bit = UInt64(1) << UInt64(slot & 63)
        guard page.allocBits[word] & bit != 0 else { throw .doubleFree(.deallocate, address: address) }
        let owner = page.fields.pointee.owner
        if owner == PageHeader.unowned {
            var now: UInt64? = nil
            var tally = SegregatedHeapCore.RemoteFreeTally()
            SegregatedHeapCore.freeRemotely(core, address: address, freer: cache, now: &now, tally: &tally)
            tally.publish(core)
            return
        }
        guard page.remoteFree[word] & bit == 0, !SegregatedHeapCore.ownerHoldsFree(core, page, slot: slot) else {
            throw .doubleFree(.deallocate, address: address)
        }
        if let cache, owner == UInt(bitPattern: cache) {
            page.ownerFree[word] |= bit
            // As on the fast path: a ring page that is neither current nor queued is queued.
            if !page.isColdStart && page.fields.pointee.queued == 0 {
                segregatedQueueReady(page.fields, cache: UInt(bitPattern: cache))
            }
        } else {
            page.remoteFree[word] |= bit
            page.fields.pointee.remoteFreeCount += 1
            SegregatedHeapCore.count(core, CoreCounter.ownedPageRemoteFrees, 1)
        }
    }

    /// The usable size of the live object at `pointer` (its class size). Throws
    /// `.unknownPointer(.sizeQuery, ...)` for pointers this heap did not return or that are free.
    /// Thread-safe; takes the heap lock (to check the pointer's chunk) and the page's lock.
    public func size(of pointer: UnsafeRawPointer) throws(PasError) -> Int {
        let address = UInt(bitPattern: pointer)
        let cache = ThreadCache.current
        if let cache { ThreadCache.flushLog(cache) }
        var held: UnsafeMutablePointer<FutexLock>? = nil
        defer { PageLock.release(&held) }
        let (page, slot) = try validateAndLock(address, for: .sizeQuery, holding: &held)
        let free =
            page.allocBits[slot >> 6] & (UInt64(1) << UInt64(slot & 63)) == 0
            || page.remoteFree[slot >> 6] & (UInt64(1) << UInt64(slot & 63)) != 0
            || SegregatedHeapCore.ownerHoldsFree(core, page, slot: slot)
        guard !free else { throw .unknownPointer(.sizeQuery, address: address) }
        if page.isColdStart, let c = SegregatedHeapCore.coldStartClass(of: page, granule: slot) { return size(ofClass: c) }
        return Int(page.fields.pointee.objectSize)
    }

    /// Size of the object at `pointer` without checks. Precondition: a live object of this heap.
    /// Cost: a mask and a load. Thread-safe.
    @inlinable @inline(__always)
    public func sizeUnchecked(of pointer: UnsafeRawPointer) -> Int {
        let address = UInt(bitPattern: pointer)
        let header = Config.layout.header(containing: address)
        let fields = UnsafeMutablePointer<PageHeader>(bitPattern: header).unsafelyUnwrapped
        if fields.pointee.classIndex != PageHeader.coldStartClassIndex { return Int(fields.pointee.objectSize) }
        return coldStartObjectSize(address)
    }

    /// Size of an object in a cold-start page, from the page's class map.
    @usableFromInline
    func coldStartObjectSize(_ address: UInt) -> Int {
        let page = PageRef(Config.layout.header(containing: address), Config.layout)
        let byte = page.classMap[Int((address & Config.layout.pageMask) >> UInt(SizeClasses.minAlignShift))]
        return size(ofClass: Int(byte) - 1)
    }

    /// Gives back the calling thread's pages of this heap and applies its deallocation log, so
    /// that their free slots become visible to other threads and empty pages can be decommitted.
    /// Thread exit does the same for every heap. Thread-safe.
    public func flushThreadCache() {
        guard let cache = ThreadCache.current else { return }
        ThreadCache.flushLog(cache)
        SegregatedHeapCore.releaseAll(core, cache: cache)
    }

    /// The page and slot of `address` if it is the start of an object slot of a formatted page
    /// of this heap, with the page's lock taken into `held`. Caller holds no lock (`held` nil);
    /// on a throw `held` may hold the page's lock, for the caller to release.
    func validateAndLock(
        _ address: UInt, for operation: PasOperation, holding held: inout UnsafeMutablePointer<FutexLock>?
    ) throws(PasError) -> (PageRef, Int) {
        let heapLock = core.pointee.heapLock
        heapLock.pointee.lock()
        let owned = SegregatedHeapCore.owns(core, address: address)
        heapLock.pointee.unlock()
        guard owned else { throw .unknownPointer(operation, address: address) }
        let layout = Config.layout
        // Invariant: the page belongs to one of this heap's chunks, which live as long as the
        // heap, so its header and lock word are valid.
        let page = PageRef(layout.header(containing: address), layout)
        PageLock.lock(page, holding: &held)
        let f = page.fields
        guard f.pointee.state != PageHeader.fresh else { throw .unknownPointer(operation, address: address) }
        let slot = page.slot(of: address)
        let offset = Int(address & layout.pageMask)
        guard slot < Int(f.pointee.objectsPerPage), slot * Int(f.pointee.objectSize) == offset else {
            throw .unknownPointer(operation, address: address)
        }
        if page.isColdStart, SegregatedHeapCore.coldStartClass(of: page, granule: slot) == nil {
            throw .unknownPointer(operation, address: address)
        }
        return (page, slot)
    }
}
