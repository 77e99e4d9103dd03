/// What the directory knows about one bitfit page. Lives in the chunk's metadata block
/// (side memory), never in the page.
///
/// Invariant: every field is read and written only with the directory lock held, except
/// `base`, `bits` and `index`, which are set before the chunk is published and never change.
@usableFromInline
struct BitfitPageEntry {
    /// First byte of the page.
    @usableFromInline var base: UInt
    /// The header: free bits (1 = free granule), then end bits (1 = last granule of a live
    /// object), `Config.bitmapWords` words each. At `base` for inline headers, in the chunk's
    /// metadata block otherwise.
    @usableFromInline var bits: UnsafeMutablePointer<UInt64>
    /// Position of the page in its directory.
    @usableFromInline var index: Int
    /// Granules in live objects.
    @usableFromInline var liveGranules: Int
    /// Upper bound on the longest run of free granules (exact after a failed search).
    @usableFromInline var largestFreeHint: Int
    /// When the page last became empty (ns of the heap's time source); meaningful while
    /// `liveGranules == 0`.
    @usableFromInline var emptySince: UInt64
    /// False after `decommitEmptyPages` returned the page's memory; it is committed again
    /// (and an inline header rewritten) before reuse.
    @usableFromInline var isCommitted: Bool
    /// Search floor for unaligned allocation: `scanFloorLongest` is the length of the
    /// longest free run that starts below granule `scanFloorGranule` (0 if none), so it is
    /// the length of an existing run and at most the longest. A request for more granules
    /// starts its search at the floor's word (no fit can start below the floor). 0/0 says
    /// nothing; kept by `BitfitPage`.
    ///
    /// Runs reaching across the floor count, and the floor is a granule, not a word: with a
    /// bound over runs lying wholly below a word boundary only, a free can merge the run
    /// that gave the bound into a run the bound does not cover, a search can take that
    /// run, and the bound then names a run that no longer exists, which a failed search
    /// reports as the longest.
    @usableFromInline var scanFloorGranule: UInt16 = 0
    @usableFromInline var scanFloorLongest: UInt16 = 0
    /// True while a decommit pass has chosen the page and its system call may be in flight
    /// (`isCommitted` is already false). Such a page is not reused until the pass ends.
    /// Written only by the holder of the directory's `decommitLock`, with the lock held too.
    @usableFromInline var isDecommitting: Bool = false
}

/// Where a pointer falls in a page.
@usableFromInline
enum BitfitPointerClass {
    /// The first granule of a live object.
    case objectStart(Int)
    /// A free granule.
    case free
    /// Not a granule boundary, in the inline header, or inside a live object.
    case unknown
}

/// Operations on one page's bits. A thin view over an entry; all methods need the directory lock.
///
/// Invariant (checked by `verify`): bits at or past `Config.payloadGranules` are zero in
/// both bitmaps; every end bit is on a used granule; every maximal run of used granules ends
/// with an end bit, and `liveGranules` is the number of used granules.
@usableFromInline @frozen
struct BitfitPage<Config: BitfitConfig> {
    /// Invariant: points at an entry in a published chunk metadata block; caller holds the lock.
    @usableFromInline let entry: UnsafeMutablePointer<BitfitPageEntry>

    @inlinable @inline(__always)
    init(_ entry: UnsafeMutablePointer<BitfitPageEntry>) { self.entry = entry }

    @inlinable @inline(__always)
    var freeBits: BitfitBitmap { BitfitBitmap(entry.pointee.bits) }
    @inlinable @inline(__always)
    var endBits: BitfitBitmap { BitfitBitmap(entry.pointee.bits + Config.bitmapWords) }
    @inlinable @inline(__always)
    var payloadStart: UInt { entry.pointee.base &+ UInt(Config.payloadOffset) }

    @inlinable @inline(__always)
    func address(ofGranule i: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: payloadStart &+ UInt(i &<< Config.granuleShift)).unsafelyUnwrapped
    }

    /// Writes an all-free header. For inline headers this writes into the page (allowed:
    /// such configs require `allowsMetadataInChunks`).
    func resetHeader() {
        entry.pointee.bits.update(repeating: 0, count: 2 * Config.bitmapWords)
        freeBits.setRange(0, Config.payloadGranules)
        forgetScanFloor()
    }

    /// Drops the search floor (after granules were taken other than by an unaligned search).
    @inlinable @inline(__always)
    func forgetScanFloor() {
        entry.pointee.scanFloorGranule = 0
        entry.pointee.scanFloorLongest = 0
    }

    /// First fit: the lowest run of `count` free granules whose first granule's address is a
    /// multiple of `alignGranules` granules. Marks it used and returns its first granule, or
    /// returns -1 and lowers `largestFreeHint` to the exact longest free run.
    ///
    /// Cost: without alignment, one pass a word at a time that also yields the longest run
    /// on failure; aligned runs of at most 64 granules (alignment up to 64 granules) by
    /// shift-and, a word at a time (O(log count) per word with a free aligned start); larger
    /// alignments test each aligned start; longer aligned runs walk the free runs. A failed
    /// aligned search adds one pass computing the longest free run.
    @inlinable
    func allocate(granules count: Int, alignGranules: Int) -> Int {
        let limit = Config.payloadGranules
        let free = freeBits
        let offset = Config.payloadOffsetGranules
        // Smallest granule index p >= 0 with (offset + p) a multiple of alignGranules.
        let phase = (0 &- offset) & (alignGranules &- 1)
        let start: Int
        if alignGranules == 1 {
            // Runs starting below the floor are too short: start at the floor's word,
            // carrying the run that ends at the word's first granule. That run and the runs
            // of the word starting below the floor are counted again; all are at most
            // `floorLongest`, so the fit (if any) starts at or above the floor.
            var fromWord = 0, carry = 0, best = 0
            let floorLongest = Int(entry.pointee.scanFloorLongest)
            if count > floorLongest {
                fromWord = Int(entry.pointee.scanFloorGranule) &>> 6
                best = floorLongest
                let wordStart = fromWord &<< 6
                carry = wordStart &- 1 &- free.previousClear(before: wordStart)
            }
            let (found, longest) = free.firstRunOrLongest(
                count: count, limit: limit, fromWord: fromWord,
                carry: carry, best: best)
            if found < 0 {
                entry.pointee.largestFreeHint = longest
                return -1
            }
            // `found` starts a run, so every run starting below it ends before it and stays
            // untouched; `longest` is the longest of them (those below the old floor are
            // counted by `floorLongest`).
            entry.pointee.scanFloorGranule = UInt16(truncatingIfNeeded: found)
            entry.pointee.scanFloorLongest = UInt16(truncatingIfNeeded: longest)
            start = found
        } else if alignGranules > 64 {
            start = free.firstRun(count: count, first: phase, step: alignGranules, limit: limit)
        } else if count <= 64 {
            start = free.firstShortRun(count: count, alignment: alignGranules, phase: phase, limit: limit)
        } else {
            start = free.firstRunByWalk(count: count, alignment: alignGranules, offset: offset, limit: limit)
        }
        if start < 0 {
            entry.pointee.largestFreeHint = free.longestRun(limit: limit)
            return -1
        }
        if alignGranules != 1 { forgetScanFloor() }
        free.clearRange(start, start &+ count)
        endBits.set(start &+ count &- 1)
        entry.pointee.liveGranules &+= count
        return start
    }

    /// Classifies `address`, which lies in this page. Reads no bits of a decommitted page.
    @inlinable
    func classify(_ address: UInt) -> BitfitPointerClass {
        let start = payloadStart
        guard address >= start else { return .unknown }
        let offset = address &- start
        guard offset & UInt(Config.granule &- 1) == 0 else { return .unknown }
        let i = Int(offset &>> UInt(Config.granuleShift))
        guard i < Config.payloadGranules else { return .unknown }
        // A decommitted page holds no objects (and an inline header must not be read).
        guard entry.pointee.isCommitted else { return .free }
        if freeBits.test(i) { return .free }
        if i == 0 || freeBits.test(i &- 1) || endBits.test(i &- 1) { return .objectStart(i) }
        return .unknown
    }

    /// Last granule of the live object starting at `start`.
    @inlinable @inline(__always)
    func objectEnd(_ start: Int) -> Int {
        endBits.nextSet(from: start, limit: Config.payloadGranules)
    }

    /// Length of the free run that contains granule `i` (which must be free), after granules
    /// were freed; keeps the search floor true: a run that starts below the floor, also one
    /// reaching across it, raises the floor's bound when it got longer. (The freed granules
    /// may have merged the run that gave the bound into it, which then starts below the
    /// floor too; its length is the new bound.)
    @inlinable
    func freeRun(containing i: Int) -> Int {
        let free = freeBits
        let low = free.previousClear(before: i) &+ 1
        let high = free.nextClear(from: i, limit: Config.payloadGranules)
        let length = high &- low
        // A longer run starting below the floor raises the floor's bound.
        if low < Int(entry.pointee.scanFloorGranule) && length > Int(entry.pointee.scanFloorLongest) {
            entry.pointee.scanFloorLongest = UInt16(truncatingIfNeeded: length)
        }
        return length
    }

    /// Frees the object `start ... end`. Returns its size in granules.
    @inlinable
    func free(start: Int, end: Int) -> Int {
        freeBits.setRange(start, end &+ 1)
        endBits.clear(end)
        let count = end &- start &+ 1
        entry.pointee.liveGranules &-= count
        if entry.pointee.liveGranules == 0 {
            // The page is empty: one run covers it all, no scan needed (a page that holds one
            // object at a time, as when publishing code, would otherwise scan it on every free).
            forgetScanFloor()
            entry.pointee.largestFreeHint = Config.payloadGranules
            return count
        }
        let run = freeRun(containing: start)
        if run > entry.pointee.largestFreeHint { entry.pointee.largestFreeHint = run }
        return count
    }

    /// Shrinks the object `start ... end` to `count` granules (`1 <= count <= end - start + 1`).
    /// Returns the number of granules freed.
    @inlinable
    func shrink(start: Int, end: Int, to count: Int) -> Int {
        let newEnd = start &+ count &- 1
        guard newEnd < end else { return 0 }
        endBits.clear(end)
        endBits.set(newEnd)
        freeBits.setRange(newEnd &+ 1, end &+ 1)
        let freed = end &- newEnd
        entry.pointee.liveGranules &-= freed
        let run = freeRun(containing: newEnd &+ 1)
        if run > entry.pointee.largestFreeHint { entry.pointee.largestFreeHint = run }
        return freed
    }

    /// Grows the object `start ... end` to `count` granules if the granules after it are free.
    /// Returns the number of granules taken, or -1 if it cannot grow in place.
    @inlinable
    func grow(start: Int, end: Int, to count: Int) -> Int {
        let newEnd = start &+ count &- 1
        guard newEnd > end else { return 0 }
        guard newEnd < Config.payloadGranules, freeBits.allSet(end &+ 1, newEnd &+ 1) else { return -1 }
        freeBits.clearRange(end &+ 1, newEnd &+ 1)
        forgetScanFloor()
        endBits.clear(end)
        endBits.set(newEnd)
        let taken = newEnd &- end
        entry.pointee.liveGranules &+= taken
        return taken
    }

    /// The exact longest run of free granules. Cost: one pass over the free bits.
    @inlinable
    func longestFreeRun() -> Int {
        freeBits.longestRun(limit: Config.payloadGranules)
    }
}
