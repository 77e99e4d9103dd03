import PasSystem

/// The state of a `LargeHeap` and its allocate/free algorithms, without the lock.
///
/// - `freeRoot`: free ranges keyed by `(type, start)`: one address-ordered run per type tag,
///   so a first fit for type T finds the lowest-address T range that fits, in O(log n).
/// - `decommitRoot`: page spans whose memory was handed back with `chunks.decommit`; always
///   inside free ranges; re-committed before any byte of them is handed out.
/// - `chunkRoot`: the chunks drawn from the chunk source (coalesced), for `contains`.
/// - `map`: live objects, start -> (size, type).
///
/// Every byte of every chunk is either in exactly one free range or in exactly one live
/// object. No metadata is stored in managed memory. Each mutating operation reserves its
/// metadata (nodes, map slots) before it changes anything, so a failure (out of metadata
/// pages, chunk allocation or commit failure) leaves the state as it was.
/// Not thread-safe: `LargeHeap`'s lock protects it.
struct LargeHeapCore {
    let granule: Int
    let chunkSize: Int
    let pageSize: Int
    var pool: LargeNodePool
    var map: LargeMap
    var freeRoot: UInt32 = 0
    var decommitRoot: UInt32 = 0
    var chunkRoot: UInt32 = 0
    /// The stamp of the latest free (or growth): the time source's nanoseconds at that moment,
    /// made strictly increasing. Each free range remembers the stamp at which it (last) grew.
    var epoch: UInt64 = 0
    /// True between choosing pages to decommit and recording the outcome (see
    /// `LargeHeap+Decommit.swift`): spans in `decommitRoot` may have a system call in flight.
    var decommitInFlight = false
    var liveBytes = 0
    var freeBytes = 0
    var freeRangeCount = 0
    var chunkBytes = 0
    var decommittedBytes = 0

    init(granule: Int, chunkSize: Int, pageSize: Int) throws(PasError) {
        self.granule = granule
        self.chunkSize = chunkSize
        self.pageSize = pageSize
        pool = try LargeNodePool()
        map = try LargeMap()
    }

    /// Unmaps the metadata pages. The core must not be used afterwards.
    func releaseMetadata() {
        pool.release()
        map.release()
    }

    // MARK: Allocation

    /// Allocates `size` bytes (a positive multiple of the granule) at an address aligned to
    /// `alignment` (a power of two, at least the granule). Expected O(log n) plus system calls
    /// when the heap grows or re-commits decommitted pages.
    /// Returns 0 (changing nothing but perhaps adding a chunk) when the fit overlaps pages a
    /// decommit pass may still be returning: the caller waits for the pass and retries.
    mutating func allocate<Chunks: ChunkSource>(
        size: Int, alignment: Int, type: UInt32,
        chunks: Chunks, now: UInt64
    ) throws(PasError) -> UInt {
        // grow: 2 nodes; commit: 1; carve: 1.
        try pool.reserve(4)
        try map.reserve(1)
        let want = UInt(size)
        var fit = pool.treap.firstFit(freeRoot, type: type, size: want, alignment: alignment)
        if fit.node == 0 && type != 0 {
            fit = pool.treap.firstFit(freeRoot, type: 0, size: want, alignment: alignment)
        }
        if fit.node == 0 {
            try grow(size: size, alignment: alignment, chunks: chunks, now: now)
            fit = pool.treap.firstFit(freeRoot, type: 0, size: want, alignment: alignment)
            precondition(fit.node != 0, "LargeHeap: a fresh chunk does not fit its request")
        }
        if decommitInFlight && overlapsDecommitted(start: fit.address, end: fit.address + want) { return 0 }
        try commitDecommitted(start: fit.address, end: fit.address + want, chunks: chunks)
        carve(fit.node, at: fit.address, size: want)
        map.insert(LargeMapEntry(start: fit.address, size: want, type: type))
        liveBytes += size
        return fit.address
    }

    /// Draws a chunk big enough for `size` at `alignment` and adds it to the untyped free store.
    private mutating func grow<Chunks: ChunkSource>(size: Int, alignment: Int, chunks: Chunks, now: UInt64) throws(PasError) {
        guard let bytes = Alignment.roundUp(Swift.max(size, chunkSize), to: pageSize) else {
            throw .invalidSize(.allocate, size)
        }
        let chunk = try chunks.allocateChunk(byteCount: bytes, alignment: Swift.max(alignment, pageSize))
        pool.insertSpan(&chunkRoot, start: chunk.start, end: chunk.end)
        chunkBytes += chunk.byteCount
        // Fresh memory counts as freed now, so it is not decommitted before it had a chance.
        insertFree(start: chunk.start, end: chunk.end, type: 0, stamp: advanceEpoch(now))
    }

    /// Moves the epoch to `now` (or one past it, so stamps strictly increase) and returns it.
    mutating func advanceEpoch(_ now: UInt64) -> UInt64 {
        epoch = Swift.max(epoch &+ 1, now)
        return epoch
    }

    /// Takes `at ..< at + size` out of free range `node`; the slack on either side stays free
    /// with the range's type and stamp. Needs one spare node.
    private mutating func carve(_ node: UInt32, at: UInt, size: UInt) {
        let t = pool.treap
        let n = t[node]
        t.remove(&freeRoot, node)
        var reused = false
        if n.start < at {
            t[node].end = at
            t.insert(&freeRoot, node)
            reused = true
        }
        let tail = at + size
        if tail < n.end {
            if reused {
                let y = pool.allocate(start: tail, end: n.end, type: n.type, stamp: n.stamp)
                pool.treap.insert(&freeRoot, y)
                freeRangeCount += 1
            } else {
                t[node].start = tail
                t.insert(&freeRoot, node)
                reused = true
            }
        }
        if !reused {
            pool.free(node)
            freeRangeCount -= 1
        }
        freeBytes -= Int(size)
    }

    /// Adds `start ..< end` to the free store as `type`, merging it with touching free ranges
    /// of the same type. Needs one spare node. Expected O(log n).
    mutating func insertFree(start: UInt, end: UInt, type: UInt32, stamp: UInt64) {
        let t = pool.treap
        var s = start, e = end, st = stamp
        let left = t.lower(freeRoot, type, start)
        if left != 0 && t[left].type == type && t[left].end == start {
            s = t[left].start
            st = Swift.max(st, t[left].stamp)
            t.remove(&freeRoot, left)
            pool.free(left)
            freeRangeCount -= 1
        }
        let right = t.ceiling(freeRoot, type, start)
        if right != 0 && t[right].type == type && t[right].start == end {
            e = t[right].end
            st = Swift.max(st, t[right].stamp)
            t.remove(&freeRoot, right)
            pool.free(right)
            freeRangeCount -= 1
        }
        let x = pool.allocate(start: s, end: e, type: type, stamp: st)
        pool.treap.insert(&freeRoot, x)
        freeRangeCount += 1
        freeBytes += Int(end - start)
    }

    // MARK: Deallocation and queries

    /// Frees the live object starting at `address`; its range becomes free with its type,
    /// stamped `now`. The merged free range may then hold a free page: a whole one, or a
    /// partial page that free ranges of different types now cover end to end (a decommit
    /// pass finds out).
    mutating func deallocate(_ address: UInt, now: UInt64) throws(PasError) {
        try pool.reserve(1)
        guard let slot = map.find(address) else { throw misuse(address, .deallocate) }
        let entry = map[slot: slot]
        map.remove(slot: slot)
        liveBytes -= Int(entry.size)
        let stamp = advanceEpoch(now)
        insertFree(start: address, end: address + entry.size, type: entry.type, stamp: stamp)
    }

    /// The size of the live object starting at `address`.
    func size(of address: UInt) throws(PasError) -> Int {
        guard let slot = map.find(address) else { throw misuse(address, .sizeQuery) }
        return Int(map[slot: slot].size)
    }

    /// Shrinks the live object at `address` to `newSize` (a positive multiple of the
    /// granule); the tail returns to the free store with the object's type, stamped `now`.
    /// Returns true if it freed a tail (the merged free range may then hold a free page, as
    /// for `deallocate`), false if `newSize` is the object's size.
    mutating func shrink(_ address: UInt, to newSize: Int, requested: Int, now: UInt64) throws(PasError) -> Bool {
        try pool.reserve(1)
        guard let slot = map.find(address) else { throw misuse(address, .shrink) }
        let entry = map[slot: slot]
        let want = UInt(newSize)
        guard want <= entry.size else { throw .invalidSize(.shrink, requested) }
        if want == entry.size { return false }
        map[slot: slot].size = want
        liveBytes -= Int(entry.size - want)
        let stamp = advanceEpoch(now)
        insertFree(start: address + want, end: address + entry.size, type: entry.type, stamp: stamp)
        return true
    }

    /// True if `address` lies in a chunk this heap draws from.
    func contains(_ address: UInt) -> Bool { pool.span(chunkRoot, containing: address) != 0 }

    /// The error for a pointer that is not the start of a live object: a double free if it
    /// lies in free memory, otherwise an unknown (foreign or interior) pointer.
    /// Cost: O(number of free ranges); only on the error path.
    func misuse(_ address: UInt, _ operation: PasOperation) -> PasError {
        if contains(address) && freeRangeContains(freeRoot, address) {
            return .doubleFree(operation, address: address)
        }
        return .unknownPointer(operation, address: address)
    }

    private func freeRangeContains(_ t: UInt32, _ address: UInt) -> Bool {
        if t == 0 { return false }
        let n = pool.treap[t]
        if n.maxSize == 0 { return false }
        return (n.start <= address && address < n.end)
            || freeRangeContains(n.left, address) || freeRangeContains(n.right, address)
    }
}
