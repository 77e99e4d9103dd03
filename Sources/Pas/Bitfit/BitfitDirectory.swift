import PasSystem
import Synchronization

/// Counters and cursors of a directory. Lives in side memory so that the fast path updates
/// plain memory (no class-property exclusivity checks).
///
/// Invariant: read and written only with the directory lock held.
@usableFromInline
struct BitfitDirectoryState {
    @usableFromInline var chunkCount = 0
    @usableFromInline var pageCount = 0
    @usableFromInline var committedPages = 0
    /// Committed pages with no live object.
    @usableFromInline var emptyPages = 0
    @usableFromInline var liveGranules = 0
    @usableFromInline var objectCount = 0
    /// Side memory mapped for chunk metadata and page-map leaves.
    @usableFromInline var metadataBytes = 0
    /// A chunk obtained from the source whose metadata could not be set up; used next time.
    @usableFromInline var spareChunk: UInt = 0
    /// Pages scanned without finding room (each lowers that page's hint to the truth).
    @usableFromInline var failedPageSearches = 0
    /// Pages chosen by a decommit pass whose system call has not finished (not committed,
    /// not reusable yet).
    @usableFromInline var decommittingPages = 0
}

/// All pages of one config in one heap, and the index that finds a page with room.
///
/// Pages come from the chunk source `Config.pagesPerChunk` at a time and are numbered in
/// order of arrival. Finding a page for `n` granules: the fit index has one bit vector per
/// size bucket `b` (pages whose largest-free hint is at least `1 << b` granules); a search
/// scans bucket `floor(log2 n)` a word (64 pages) at a time from a per-bucket "first
/// non-zero word" cursor, tries each page whose hint is at least `n`, and lowers a page's
/// hint when a search in it fails (only the buckets between the old and the new hint are
/// touched). Full pages and pages too fragmented for the request are
/// never visited. Committed pages are preferred; a decommitted page is committed again only
/// when no committed page fits; a new chunk is taken only when no page fits.
///
/// Thread-safety: `lock` (a `FutexLock`, since growth and re-commit make system calls while
/// holding it) protects every page entry, every header (free and end bits), the fit index,
/// the chunk table and `state`. The page map is written under it and read without it.
/// `decommitLock` is held by a decommit pass for its whole run; the pass holds `lock` only to
/// choose pages and to record the outcome, never across the decommit system calls (see
/// `BitfitDirectoryDecommit.swift` for the protocol). Allocation never takes `decommitLock`
/// except on the slow path that finds only pages being decommitted, after dropping `lock`.
/// Lock order: `decommitLock` → `lock` → the pool's thread mutex (when reporting empty
/// pages) → the chunk source's own lock. Never taken while holding any other Pas lock.
@usableFromInline
final class BitfitDirectory<Config: BitfitConfig, Chunks: ChunkSource>: @unchecked Sendable {
    @usableFromInline typealias Entry = BitfitPageEntry

    @usableFromInline let chunks: Chunks
    @usableFromInline let time: any TimeSource
    /// True when `time` is `MonotonicTimeSource`: pages that become empty are then stamped
    /// with `CLOCK_MONOTONIC_COARSE` (see `emptyStamp`).
    @usableFromInline let stampsWithCoarseClock: Bool
    /// The pool told when the directory gets its first empty page, or nil.
    @usableFromInline let pool: PageSharingPool?
    /// Protects everything below except `pageMap` reads (see the type's documentation). Fork
    /// stage `heap`, after `decommitLock` (the heap registers itself).
    @usableFromInline let lock = FutexLock()
    /// Held by a decommit pass from choosing pages to recording the outcome. Taken before
    /// `lock`; allocation fast paths never take it.
    @usableFromInline let decommitLock = FutexLock()
    /// The earliest `emptySince` of the committed empty pages (see `EmptyPageSignal`). Written
    /// with `lock` held; read lock-free by the scavenger.
    @usableFromInline let emptySignal: EmptyPageSignal
    /// Where a decommit pass lists the runs it chose; mapped on the first pass, used only
    /// under `decommitLock`.
    var plan: DecommitPlan? = nil
    @usableFromInline let pageMap: BitfitPageMap
    /// Invariant: the side regions below are mapped for the directory's lifetime.
    @usableFromInline let state: UnsafeMutablePointer<BitfitDirectoryState>
    /// Chunk number (in arrival order) → metadata block.
    @usableFromInline let chunkTable: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// `Config.bucketCount` bit vectors of `fitWords` words, then `bucketCount` cursors.
    @usableFromInline let fitIndex: UnsafeMutablePointer<UInt64>
    @usableFromInline let fitCursors: UnsafeMutablePointer<Int>
    @usableFromInline let fitWords: Int
    let tablesRange: MemoryRange

    // Layout of a chunk metadata block: chunk base (UInt) at 0, entries at `entriesOffset`,
    // out-of-line headers at `headersOffset`.
    @usableFromInline static var entriesOffset: Int { 64 }
    @usableFromInline static var headersOffset: Int {
        (entriesOffset + Config.pagesPerChunk * MemoryLayout<Entry>.stride + 63) & ~63
    }
    static var metadataBytes: Int {
        headersOffset + (Config.headerPlacement == .outOfLine ? Config.pagesPerChunk * Config.headerBytes : 0)
    }

    init(chunks: Chunks, time: any TimeSource, pool: PageSharingPool?) throws(PasError) {
        BitfitConfigLayout.validate(Config.self, systemPageSize: SystemInfo.pageSize)
        precondition(
            Config.headerPlacement == .outOfLine || chunks.allowsMetadataInChunks,
            "BitfitHeap<\(Config.self)>: inline page headers need a chunk source that allows metadata in chunks")
        precondition(
            Config.pageSize % chunks.pageSize == 0,
            "BitfitHeap<\(Config.self)>: page size \(Config.pageSize) is not a multiple of the chunk source's \(chunks.pageSize)")
        self.chunks = chunks
        self.time = time
        stampsWithCoarseClock = time is MonotonicTimeSource
        self.pool = pool
        emptySignal = EmptyPageSignal(pool: pool)
        pageMap = try BitfitPageMap(chunkShift: Config.chunkShift)
        fitWords = (Config.maxPages + 63) / 64
        let stateBytes = (MemoryLayout<BitfitDirectoryState>.stride + 63) & ~63
        let chunkTableBytes = (Config.maxChunks * 8 + 63) & ~63
        let fitBytes = Config.bucketCount * fitWords * 8
        do {
            tablesRange = try MetadataPages.allocate(byteCount: stateBytes + chunkTableBytes + fitBytes + Config.bucketCount * 8)
        } catch {
            pageMap.release(chunkStarts: [])
            throw error
        }
        // Invariant: the region is fresh, zeroed, and split into disjoint typed parts here.
        let raw = tablesRange.pointer
        state = raw.bindMemory(to: BitfitDirectoryState.self, capacity: 1)
        state.initialize(to: BitfitDirectoryState())
        chunkTable = (raw + stateBytes).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: Config.maxChunks)
        fitIndex = (raw + stateBytes + chunkTableBytes).bindMemory(to: UInt64.self, capacity: Config.bucketCount * fitWords)
        fitCursors = (raw + stateBytes + chunkTableBytes + fitBytes).bindMemory(to: Int.self, capacity: Config.bucketCount)
    }

    deinit {
        plan?.release()
        let count = state.pointee.chunkCount
        var starts: [UInt] = []
        starts.reserveCapacity(count)
        for c in 0 ..< count {
            let meta = chunkTable[c]!
            starts.append(meta.load(as: UInt.self))
            MetadataPages.release(
                MemoryRange(start: UInt(bitPattern: meta), byteCount: MetadataPages.roundedSize(Self.metadataBytes)))
        }
        pageMap.release(chunkStarts: starts)
        MetadataPages.release(tablesRange)
    }

    // MARK: Lookup

    /// The entry of the page containing `address`, or nil if no page of this directory does.
    /// Lock-free: two loads in the page map plus arithmetic.
    @inlinable @inline(__always)
    func entry(containing address: UInt) -> UnsafeMutablePointer<Entry>? {
        guard let meta = pageMap.lookup(address) else { return nil }
        // Invariant: a published metadata block starts with its chunk base and holds
        // `pagesPerChunk` initialised entries at `entriesOffset`.
        let base = meta.load(as: UInt.self)
        let slot = Int((address &- base) &>> UInt(Config.pageShift))
        return (meta + Self.entriesOffset).assumingMemoryBound(to: Entry.self) + slot
    }

    /// The entry of page `index` (< pageCount). Needs the lock.
    @inlinable @inline(__always)
    func entry(page index: Int) -> UnsafeMutablePointer<Entry> {
        let shift = Config.pagesPerChunk.trailingZeroBitCount
        let meta = chunkTable[index &>> shift].unsafelyUnwrapped
        return (meta + Self.entriesOffset).assumingMemoryBound(to: Entry.self) + (index & (Config.pagesPerChunk &- 1))
    }

    // MARK: Fit index

    /// Makes page `index`'s membership in every bucket match its hint. Needs the lock.
    @inlinable
    func updateFitIndex(page index: Int, hint: Int) {
        let word = index &>> 6
        let bit: UInt64 = 1 &<< UInt64(index & 63)
        for b in 0 ..< Config.bucketCount {
            let vector = fitIndex + b &* fitWords
            if hint >= 1 &<< b {
                vector[word] |= bit
                if fitCursors[b] > word { fitCursors[b] = word }
            } else {
                vector[word] &= ~bit
            }
        }
    }

    /// Moves page `index` from the buckets of hint `old` to those of hint `new`: touches only
    /// the buckets between the two (none when both lie in the same power-of-two range).
    /// Needs the lock, and the page's membership to match `old`.
    @inlinable @inline(__always)
    func moveInFitIndex(page index: Int, from old: Int, to new: Int) {
        // Page is in bucket b exactly when b < bitWidth - leadingZeroBitCount(hint).
        let oldBuckets = Int.bitWidth &- old.leadingZeroBitCount
        let newBuckets = Int.bitWidth &- new.leadingZeroBitCount
        if oldBuckets != newBuckets { moveInFitIndex(page: index, fromBuckets: oldBuckets, toBuckets: newBuckets) }
    }

    /// Page `index` leaves buckets `newBuckets ..< oldBuckets` or joins `oldBuckets ..< newBuckets`.
    /// Kept out of line so that the callers' fast paths stay small.
    @usableFromInline @inline(never)
    func moveInFitIndex(page index: Int, fromBuckets oldBuckets: Int, toBuckets newBuckets: Int) {
        let word = index &>> 6
        let bit: UInt64 = 1 &<< UInt64(index & 63)
        if newBuckets < oldBuckets {
            for b in newBuckets ..< oldBuckets { fitIndex[b &* fitWords &+ word] &= ~bit }
        } else {
            for b in oldBuckets ..< newBuckets {
                fitIndex[b &* fitWords &+ word] |= bit
                if fitCursors[b] > word { fitCursors[b] = word }
            }
        }
    }

    /// Bucket searched for a request of `count` granules: floor(log2(count)).
    @inlinable @inline(__always)
    static func bucket(for count: Int) -> Int { Int.bitWidth &- 1 &- count.leadingZeroBitCount }

    // MARK: Allocation

    /// First fit over the pages that may hold `count` granules aligned to `alignGranules`.
    /// Needs the lock. Throws only when taking or committing memory fails.
    @inlinable
    func allocateLocked(granules count: Int, alignGranules: Int) throws(PasError) -> UnsafeMutableRawPointer {
        let b = Self.bucket(for: count)
        let vector = fitIndex + b &* fitWords
        let usedWords = (state.pointee.pageCount &+ 63) &>> 6
        var w = fitCursors[b]
        while w < usedWords && vector[w] == 0 { w &+= 1 }
        fitCursors[b] = w
        var decommittedCandidate = -1
        while w < usedWords {
            var bits = vector[w]
            while bits != 0 {
                let index = (w &<< 6) &+ bits.trailingZeroBitCount
                bits &= bits &- 1
                let e = entry(page: index)
                if e.pointee.largestFreeHint < count { continue }
                if !e.pointee.isCommitted {
                    if decommittedCandidate < 0 && !e.pointee.isDecommitting { decommittedCandidate = index }
                    continue
                }
                if let p = allocate(in: e, granules: count, alignGranules: alignGranules) { return p }
            }
            w &+= 1
        }
        return try allocateSlow(granules: count, alignGranules: alignGranules, decommittedCandidate: decommittedCandidate)
    }

    /// Tries one committed page; keeps the counters and the fit index in step.
    @inlinable
    func allocate(in e: UnsafeMutablePointer<Entry>, granules count: Int, alignGranules: Int) -> UnsafeMutableRawPointer? {
        let page = BitfitPage<Config>(e)
        let wasEmpty = e.pointee.liveGranules == 0
        let hintBefore = e.pointee.largestFreeHint
        let start = page.allocate(granules: count, alignGranules: alignGranules)
        if start < 0 {
            // The failed search lowered the hint to the exact longest run.
            state.pointee.failedPageSearches &+= 1
            moveInFitIndex(page: e.pointee.index, from: hintBefore, to: e.pointee.largestFreeHint)
            return nil
        }
        if wasEmpty {
            state.pointee.emptyPages &-= 1
            // No committed empty page left: nothing for the scavenger (exact, so it can sleep).
            if state.pointee.emptyPages == 0 { emptySignal.clear() }
        }
        state.pointee.liveGranules &+= count
        state.pointee.objectCount &+= 1
        return page.address(ofGranule: start)
    }

    /// No committed page fits: commit a decommitted one, or take a new chunk.
    @usableFromInline
    func allocateSlow(granules count: Int, alignGranules: Int, decommittedCandidate: Int) throws(PasError)
        -> UnsafeMutableRawPointer
    {
        let e: UnsafeMutablePointer<Entry>
        if decommittedCandidate >= 0 {
            e = entry(page: decommittedCandidate)
            try recommit(e)
        } else if state.pointee.decommittingPages > 0 {
            // Only pages a decommit pass is returning could serve: wait for the pass to end
            // (it holds `decommitLock`), then search again. `lock` is dropped meanwhile.
            lock.unlock()
            decommitLock.lock()
            decommitLock.unlock()
            lock.lock()
            return try allocateLocked(granules: count, alignGranules: alignGranules)
        } else {
            e = entry(page: try addChunk())
        }
        // An empty page fits every request that passed the feasibility check in `allocate`.
        guard let p = allocate(in: e, granules: count, alignGranules: alignGranules) else {
            preconditionFailure("BitfitHeap<\(Config.self)>: an empty page could not hold \(count) granules")
        }
        // The rest of a new chunk is empty from now on.
        if state.pointee.emptyPages > 0 { noteEmptyPage(since: e.pointee.emptySince) }
        return p
    }

    /// Commits a decommitted page again. On failure nothing changes.
    func recommit(_ e: UnsafeMutablePointer<Entry>) throws(PasError) {
        try chunks.commit(MemoryRange(start: e.pointee.base, byteCount: Config.pageSize))
        e.pointee.isCommitted = true
        if Config.headerPlacement == .inline { BitfitPage<Config>(e).resetHeader() }
        e.pointee.emptySince = time.nowNanoseconds()
        state.pointee.committedPages += 1
        state.pointee.emptyPages += 1
    }

    /// Takes a chunk from the source and adds its pages. Returns the first new page's index.
    /// On failure the directory is unchanged (a chunk already obtained is kept for next time).
    func addChunk() throws(PasError) -> Int {
        guard state.pointee.chunkCount < Config.maxChunks else {
            throw .outOfMemory(.allocate, requested: Config.chunkSize)
        }
        let metaRange = try MetadataPages.allocate(byteCount: Self.metadataBytes)
        let start: UInt
        if state.pointee.spareChunk != 0 {
            start = state.pointee.spareChunk
        } else {
            let range: MemoryRange
            do {
                range = try chunks.allocateChunk(byteCount: Config.chunkSize, alignment: Config.chunkSize)
            } catch {
                MetadataPages.release(metaRange)
                throw error
            }
            precondition(
                range.byteCount == Config.chunkSize && Alignment.isAligned(range.start, to: Config.chunkSize),
                "BitfitHeap<\(Config.self)>: chunk source returned \(range), expected \(Config.chunkSize) bytes aligned to their size"
            )
            start = range.start
        }
        do {
            if try pageMap.prepare(start) { state.pointee.metadataBytes += BitfitPageMap.leafBytes }
        } catch {
            state.pointee.spareChunk = start
            MetadataPages.release(metaRange)
            throw error
        }
        state.pointee.spareChunk = 0

        // Invariant: `metaRange` is fresh and zeroed; it is laid out as described at `entriesOffset`.
        let meta = metaRange.pointer
        meta.storeBytes(of: start, as: UInt.self)
        let entries = (meta + Self.entriesOffset).bindMemory(to: Entry.self, capacity: Config.pagesPerChunk)
        let headers = (meta + Self.headersOffset).bindMemory(
            to: UInt64.self, capacity: Config.pagesPerChunk * Config.bitmapWords * 2)
        let firstIndex = state.pointee.pageCount
        let now = time.nowNanoseconds()
        for slot in 0 ..< Config.pagesPerChunk {
            let base = start + UInt(slot * Config.pageSize)
            let bits =
                Config.headerPlacement == .inline
                ? UnsafeMutableRawPointer(bitPattern: base)!.bindMemory(to: UInt64.self, capacity: Config.bitmapWords * 2)
                : headers + slot * Config.bitmapWords * 2
            (entries + slot).initialize(
                to: Entry(
                    base: base, bits: bits, index: firstIndex + slot, liveGranules: 0,
                    largestFreeHint: Config.payloadGranules, emptySince: now, isCommitted: true))
            BitfitPage<Config>(entries + slot).resetHeader()
        }
        chunkTable[state.pointee.chunkCount] = meta
        state.pointee.chunkCount += 1
        state.pointee.pageCount += Config.pagesPerChunk
        state.pointee.committedPages += Config.pagesPerChunk
        state.pointee.emptyPages += Config.pagesPerChunk
        state.pointee.metadataBytes += metaRange.byteCount
        for slot in 0 ..< Config.pagesPerChunk {
            updateFitIndex(page: firstIndex + slot, hint: Config.payloadGranules)
        }
        pageMap.insert(start, metadata: meta)
        return firstIndex
    }

    // MARK: Freeing

    /// Bookkeeping after `count` granules of page `e` were freed (an object or a tail).
    @inlinable
    func didFree(_ e: UnsafeMutablePointer<Entry>, granules count: Int, hintBefore: Int, object: Bool) {
        state.pointee.liveGranules &-= count
        if object { state.pointee.objectCount &-= 1 }
        if e.pointee.largestFreeHint != hintBefore {
            moveInFitIndex(page: e.pointee.index, from: hintBefore, to: e.pointee.largestFreeHint)
        }
        if e.pointee.liveGranules == 0 {
            let now = emptyStamp()
            e.pointee.emptySince = now
            state.pointee.emptyPages &+= 1
            noteEmptyPage(since: now)
        }
    }

    /// The time to stamp a page that just became empty with. With the monotonic clock this
    /// reads `CLOCK_MONOTONIC_COARSE`, the same clock as of its last tick (a few ms at most
    /// behind, never ahead), at a fraction of the cost of a precise read: a page that holds one
    /// object at a time (publishing code) empties on every free. An early stamp only lets the
    /// scavenger return the page up to a tick sooner. Other time sources are read as they are.
    @inlinable @inline(__always)
    func emptyStamp() -> UInt64 {
        if stampsWithCoarseClock { return MonotonicClock.coarseNanoseconds() }
        return time.nowNanoseconds()
    }

    /// A committed page became empty at `now`. If it is the first, publish the time and tell
    /// the pool (one atomic load otherwise). Needs the lock.
    @inlinable @inline(__always)
    func noteEmptyPage(since now: UInt64) { emptySignal.pageBecameEmpty(at: now) }
}
