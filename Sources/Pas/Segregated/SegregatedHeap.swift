import PasSystem
import Synchronization

/// A segregated heap: objects of up to `Config.maxObjectSize` bytes (or of one fixed size), in
/// pages that each hold one size class, handed out through per-thread caches.
///
/// Fast paths (`allocateUnchecked(size:)`, `deallocateUnchecked(_:)`) take no lock, no atomic
/// and touch no Swift object but `self`'s stored constants: allocation is a table lookup, one
/// thread-local load and a bit pop from the thread's local allocator; deallocation masks the
/// pointer to its page header and, if the calling thread owns the page, sets one bit. Frees into
/// pages of other threads go to the thread's deallocation log (see `ThreadCache`), applied in
/// batches under the pages' locks.
///
/// Checked API (`allocate(size:)`, `deallocate(_:)`, `size(of:)`) reports bad input as
/// `PasError`: zero, negative or too large sizes, pointers this heap never returned, interior
/// pointers, double frees. The unchecked paths state their preconditions; double frees through
/// them are mostly caught later and counted (`statistics.lateDoubleFrees`), not guaranteed.
///
/// Cold start: a heap with several classes carves each class's first objects from a page common
/// to all classes (`coldStart`, see `SegregatedHeapCore+ColdStart`).
///
/// Memory comes from `chunks` in chunks of `Config.layout.chunkSize`; chunks are never returned,
/// and an empty page is only reused by this heap (so an isoheap's memory never holds another
/// type). `decommitEmptyPages(olderThan:)` gives empty pages' memory back to the system.
///
/// Thread-safety: all methods may be called from any thread. Locks (all in the `HeapRegistry`,
/// which gives their order): each page names the lock that protects it (`PageLock`): the
/// owning thread's lock, its class's directory lock, or the heap lock; the directory locks
/// protect the eligible lists, the heap lock the empty list, chunks and cold start, and is
/// taken before `chunks`' lock.
/// Deinitialising the heap while another thread still uses it is a programming error; pages
/// other threads still cache are dropped with the heap.
public final class SegregatedHeap<Config: SegregatedHeapConfig, Chunks: ChunkSource>: @unchecked Sendable {
    /// Where the heap's chunks come from.
    public let chunks: Chunks
    @usableFromInline let core: UnsafeMutablePointer<SegregatedHeapCore>
    @usableFromInline let heapIndex: Int
    /// Byte offset of this heap's first local allocator in a thread cache.
    @usableFromInline let allocatorOffset: Int
    /// Largest request served.
    @usableFromInline let sizeLimit: Int
    @usableFromInline let sizeTable: UnsafePointer<UInt8>
    /// `heapIndex << 48`: the tag of this heap's deallocation-log entries.
    @usableFromInline let logTag: UInt
    let clock: ClockBox
    let registry: HeapRegistry
    /// The pool this heap reports empty pages to, or nil.
    public let pageSharing: PageSharingPool?
    /// The earliest time a committed page became empty (`UInt64.max`: none), read lock-free by
    /// the scavenger, and the pool to tell; reached from the core's `emptyNotify` hook.
    let emptySignal: EmptyPageSignal
    /// The decommit pass's plan; mapped on the first pass, used only under the decommit lock.
    var plan: DecommitPlan? = nil
    /// Set once in `init` when the heap has a pool.
    var registration: PageSharingRegistration?
    /// Where an unchecked allocation goes when this heap's chunk source is exhausted (nil:
    /// the allocation fails). Set by the owner before the heap is shared with other threads
    /// (`PasHeap` spills into its other regions); read only on that failure path.
    public var exhaustedFallback: SegregatedExhaustedFallback?

    /// Creates a heap with every size class of `SizeClasses` up to `Config.maxObjectSize`.
    /// With `coldStart`, each class's first `pageSize / 8` bytes of objects are carved from
    /// pages common to all classes (see `SegregatedHeapCore+ColdStart`), so a lightly used heap touches
    /// one page instead of one per class.
    /// Cost: two small mappings and a registry entry; no chunk is allocated before first use.
    ///
    /// Page sharing: the heap reports empty pages to `pageSharing` (by default the process-wide
    /// pool), whose scavenger decommits pages empty longer than `scavengeDelay` (nil: the pool's
    /// delay), using the pool's clock. A heap given its own `timeSource` joins no pool (its
    /// times would not be the pool's); it decommits only on request.
    public convenience init(
        chunks: Chunks, coldStart: Bool = true,
        timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        let count = SizeClasses.classCount(upTo: Config.maxObjectSize)
        var sizes: [Int] = []
        for c in 0 ..< count { sizes.append(SizeClasses.size(ofClass: c)) }
        try self.init(
            chunks: chunks, classSizes: sizes, sizeLimit: Config.maxObjectSize,
            coldStartBudget: coldStart ? Config.layout.pageSize / 8 : 0, timeSource: timeSource,
            pageSharing: pageSharing, scavengeDelay: scavengeDelay)
    }

    /// Creates a heap with one size class of `objectSize` bytes (rounded up to a multiple of
    /// `alignment`, itself at least 16): the isoheap shape. Requests up to that size are served.
    /// Page sharing as for the multi-class initialiser.
    public convenience init(
        chunks: Chunks, objectSize: Int, alignment: Int = SizeClasses.minAlign,
        timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        guard Alignment.isPowerOfTwo(alignment), alignment <= Config.layout.pageSize else {
            throw .invalidAlignment(.allocate, alignment)
        }
        let align = max(alignment, SizeClasses.minAlign)
        guard objectSize > 0, let size = Alignment.roundUp(objectSize, to: align),
            size <= Config.layout.pageSize / 8
        else { throw .invalidSize(.allocate, objectSize) }
        try self.init(
            chunks: chunks, classSizes: [size], sizeLimit: size, coldStartBudget: 0, timeSource: timeSource,
            pageSharing: pageSharing, scavengeDelay: scavengeDelay)
    }

    init(
        chunks: Chunks, classSizes: [Int], sizeLimit: Int, coldStartBudget: Int,
        timeSource: (any TimeSource)?, pageSharing: PageSharingPool?, scavengeDelay: Duration?
    ) throws(PasError) {
        let pool = timeSource == nil ? pageSharing : nil
        let timeSource: any TimeSource = timeSource ?? pool?.timeSource ?? MonotonicTimeSource()
        guard chunks.allowsMetadataInChunks else {
            throw .unsupported(.allocate, reason: "segregated pages keep their headers in chunk memory")
        }
        guard chunks.pageSize <= Config.layout.pageSize else {
            throw .unsupported(.allocate, reason: "chunk source pages larger than heap pages")
        }
        guard let registry = HeapRegistry.shared else {
            throw .unsupported(.allocate, reason: "heap registry could not be mapped")
        }
        let (index, base) = try registry.register(classCount: classSizes.count)
        let clock = ClockBox(timeSource)
        let read: ClockRead = { context in
            Unmanaged<ClockBox>.fromOpaque(context.unsafelyUnwrapped).takeUnretainedValue().source.nowNanoseconds()
        }
        self.core = try SegregatedHeapCore.create(
            layout: Config.layout, heapIndex: index, allocatorBase: base, classSizes: classSizes,
            sizeLimit: sizeLimit, heapLock: registry.heapLocks + index,
            directoryLocks: registry.directoryLock(slot: base), decommitLock: registry.decommitLocks + index,
            coldStartBudget: coldStartBudget, clockRead: read,
            clockContext: Unmanaged.passUnretained(clock).toOpaque())
        self.chunks = chunks
        self.clock = clock
        self.registry = registry
        self.heapIndex = index
        self.allocatorOffset = ThreadCache.allocatorsOffset + base * LocalAllocator.stride
        self.sizeLimit = sizeLimit
        self.sizeTable = UnsafePointer(core.pointee.sizeTable)
        self.logTag = UInt(index) << 48
        self.pageSharing = pool
        self.emptySignal = EmptyPageSignal(pool: pool)
        registry.activate(heap: index, core: core)
        if let pool {
            core.pointee.emptyNotifyContext = Unmanaged.passUnretained(emptySignal).toOpaque()
            core.pointee.emptyNotify = { context, now in
                // Invariant: the signal lives as long as the heap, whose core calls this.
                Unmanaged<EmptyPageSignal>.fromOpaque(context.unsafelyUnwrapped).takeUnretainedValue().pageBecameEmpty(
                    at: now)
            }
            registration = pool.register(self, delay: scavengeDelay)
            if pool === PageSharingPool.shared { registry.staleLogs.register() }
        }
    }

    deinit {
        if let registration { pageSharing?.unregister(registration) }
        registry.retire(heap: heapIndex)
        plan?.release()
        SegregatedHeapCore.destroy(core)
    }

    /// Number of size classes.
    public var classCount: Int { core.pointee.classCount }

    /// Object size of class `index`.
    public func size(ofClass index: Int) -> Int { Int(core.pointee.classSize[index]) }

    /// Largest request this heap serves.
    public var maxObjectSize: Int { sizeLimit }

    // MARK: fast paths

    /// Allocates `size` bytes (1 ... `maxObjectSize`), 16-byte aligned; nil on any failure
    /// (bad size, no memory). Cost when the thread's allocator has a free slot: 24 x86-64 instructions,
    /// no lock, no atomic, no call. Thread-safe.
    @inlinable @inline(__always)
    public func allocateUnchecked(size: Int) -> UnsafeMutableRawPointer? {
        guard UInt(bitPattern: size &- 1) < UInt(bitPattern: sizeLimit) else { return nil }
        return allocateUnchecked(classIndex: Int(sizeTable[(size &- 1) &>> SizeClasses.minAlignShift]))
    }

    /// Allocation from size class `classIndex` (no checks): pop the thread's allocator, else the
    /// out-of-line refill.
    @inlinable @inline(__always)
    func allocateUnchecked(classIndex: Int) -> UnsafeMutableRawPointer? {
        if let p = popLocal(classIndex: classIndex) { return p }
        return segregatedAllocateSlowOrNil(self, classIndex: classIndex)
    }

    /// Pops a slot from the calling thread's allocator for `classIndex`, or nil if it is dry.
    @inlinable @inline(__always)
    func popLocal(classIndex: Int) -> UnsafeMutableRawPointer? {
        // This heap owns slots allocatorOffset ..< allocatorOffset + classCount * stride.
        LocalAllocator.popCallingThread(offset: allocatorOffset &+ (classIndex &<< LocalAllocator.strideShift))
    }

    /// Frees `pointer`. Preconditions (unchecked): it was returned by this heap's allocation
    /// and not freed since; a pointer into the middle of one of the heap's objects (or just
    /// past a page's last object) is detected, ignored and counted (`ignoredFrees`).
    /// Cost when the calling thread owns the page: about 20 instructions (one multiply, and
    /// one compare for the object-start test), no lock, no atomic; a call only for the first
    /// free into a page since it stopped being the allocator's current page; otherwise the
    /// object-start test again and a log append. Thread-safe.
    @inlinable @inline(__always)
    public func deallocateUnchecked(_ pointer: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: pointer)
        if !segregatedFreeIfOwned(address, layout: Config.layout) { segregatedDeallocateNotOwned(self, address) }
    }

    /// Frees of pointers that were not the start of an object (interior pointers), ignored by
    /// `deallocateUnchecked`. Cost: a relaxed load.
    public var ignoredFrees: Int { ignoredFreeCount.load(ordering: .relaxed) }
    /// Counts ignored frees; written only on that error path.
    let ignoredFreeCount = Atomic<Int>(0)

    /// Free the fast path did not apply (page of another thread, cold-start page, or not an
    /// object start): ignored and counted if `address` does not start an object, else logged.
    @usableFromInline
    func deallocateNotOwned(_ address: UInt) {
        // Invariant: `address` lies in one of this heap's formatted pages (the precondition of
        // `deallocateUnchecked`); its header is stable while an object in it is live.
        let page = PageRef(core.pointee.layout.header(containing: address), core.pointee.layout)
        guard page.isObjectStart(address) else {
            ignoredFreeCount.add(1, ordering: .relaxed)
            return
        }
        if let cache = ThreadCache.currentOrCreate() {
            // A cold-start page records its granule (16 bytes) as the object size: its objects
            // count low, and they are few (the cold-start budget bounds them).
            ThreadCache.logFree(cache, entry: address | logTag, bytes: Int(page.fields.pointee.objectSize))
            return
        }
        // No thread cache (no memory for one): apply the free at once, under the page's lock.
        var held: UnsafeMutablePointer<FutexLock>? = nil
        var now: UInt64? = nil
        var tally = SegregatedHeapCore.RemoteFreeTally()
        PageLock.lock(page, holding: &held)
        SegregatedHeapCore.freeRemotely(core, address: address, freer: nil, now: &now, tally: &tally)
        tally.publish(core)
        PageLock.release(&held)
    }

    // MARK: slow path

    /// Refills the calling thread's allocator for `classIndex` and allocates from it: next word
    /// of the owner's pool, then remote frees, then (cold start) a carve from the cold-start page,
    /// then an eligible, empty or fresh page. Takes only the locks each step needs (see
    /// `HeapRegistry` for the order): none for the owner's pool, the pages' locks for remote
    /// frees (the thread's own lock for pages biased to it), the directory lock for an eligible
    /// page, the heap lock for cold start and blank pages.
    @usableFromInline
    func allocateSlow(classIndex: Int) throws(PasError) -> UnsafeMutableRawPointer {
        guard let cache = ThreadCache.currentOrCreate() else {
            throw .outOfMemory(.allocate, requested: size(ofClass: classIndex))
        }
        // The core's copy of the layout: this method is compiled unspecialised, where
        // `Config.layout` costs two witness calls and a division.
        let layout = core.pointee.layout
        let la = cache.advanced(by: allocatorOffset &+ (classIndex &<< LocalAllocator.strideShift))
            .assumingMemoryBound(to: LocalAllocator.self)
        ThreadCache.noteSlowPath(cache, registry: registry)
        while true {
            if let p = popLocal(classIndex: classIndex) { return p }
            let ring = la.pointee.ringCount
            if ring > 0, SegregatedHeapCore.refillFromRing(la, layout: layout) { continue }
            ThreadCache.noteHeld(cache, heap: heapIndex)
            if ring > 0 {
                if SegregatedHeapCore.mergeRemoteInRing(core, la) { continue }
                // Every ring page is fully allocated: give one back when the ring is full.
                if ring >= SegregatedHeapCore.ringCapacity(la, layout: layout) {
                    var now: UInt64? = nil
                    SegregatedHeapCore.releaseCurrentPage(core, allocator: la, now: &now)
                }
            }
            // Here the window is empty; the allocator has a ring with room, or no ring (and may
            // point at the cold-start page).
            if la.pointee.ringCount == 0, core.pointee.coldStartBudget > 0 {
                let heapLock = core.pointee.heapLock
                heapLock.pointee.lock()
                do {
                    if SegregatedHeapCore.wantsColdStart(core, classIndex: classIndex),
                        try carve(classIndex: classIndex, allocator: la, cache: cache)
                    {
                        heapLock.pointee.unlock()
                        continue
                    }
                } catch {
                    heapLock.pointee.unlock()
                    throw error
                }
                heapLock.pointee.unlock()
            }
            try takePage(classIndex: classIndex, allocator: la, cache: cache)
        }
    }

    /// Cold start: carves objects of `classIndex` from the cold-start page this thread owns,
    /// starting a new cold-start page when the heap has none or this thread's is full. Returns false
    /// if another thread owns the cold-start page (the class then takes a page of its own).
    /// Caller holds the heap lock (the lock every cold-start page names).
    func carve(
        classIndex: Int, allocator: UnsafeMutablePointer<LocalAllocator>,
        cache: UnsafeMutableRawPointer
    ) throws(PasError) -> Bool {
        if SegregatedHeapCore.carve(core, classIndex: classIndex, allocator: allocator, cache: cache) { return true }
        let layout = core.pointee.layout
        let current = core.pointee.coldStartPage
        if current != 0, PageRef(current, layout).fields.pointee.owner != UInt(bitPattern: cache) { return false }
        // Only pages being decommitted are left: take a page of the class's own (`takePage`
        // waits for the pass).
        guard try prepareBlankPage() else { return false }
        let blank = takeBlankPage()
        if current != 0 {
            var now: UInt64? = nil
            SegregatedHeapCore.releaseColdStartPage(core, PageRef(current, layout), cache: cache, now: &now)
        }
        SegregatedHeapCore.formatColdStart(core, blank, cache: cache)
        return SegregatedHeapCore.carve(core, classIndex: classIndex, allocator: allocator, cache: cache)
    }

    /// Makes a page of `classIndex` that no thread owned (eligible, else empty, else fresh) the
    /// current page of `allocator`, biased to the thread's lock (or to the class's directory
    /// lock when the thread cache has no thread lock). Caller holds no lock. System calls (a
    /// commit, a new chunk) run under the heap lock alone, never under the thread's lock, which
    /// other threads' frees into this thread's pages need: when the blank page at hand needs
    /// one, the locks are dropped, the page is prepared, and the step is retried.
    func takePage(
        classIndex: Int, allocator la: UnsafeMutablePointer<LocalAllocator>, cache: UnsafeMutableRawPointer
    ) throws(PasError) {
        let directory = SegregatedHeapCore.directoryLock(core, classIndex)
        let ownerLock = ThreadCache.threadLock(cache) ?? directory
        let heapLock = core.pointee.heapLock
        let layout = core.pointee.layout
        while true {
            // Lock order: thread lock, directory lock, heap lock.
            ownerLock.pointee.lock()
            if ownerLock != directory { directory.pointee.lock() }
            let eligible = core.pointee.eligibleHead[classIndex]
            if eligible != 0 {
                SegregatedHeapCore.claim(core, PageRef(eligible, layout), allocator: la, cache: cache, ownerLock: ownerLock)
                if ownerLock != directory { directory.pointee.unlock() }
                ownerLock.pointee.unlock()
                ThreadCache.noteTookPage(cache, registry: registry)
                return
            }
            if ownerLock != directory { directory.pointee.unlock() }
            heapLock.pointee.lock()
            if blankPageIsReady() {
                let page = takeBlankPage()
                if Int(page.fields.pointee.classIndex) != classIndex || page.fields.pointee.state == PageHeader.fresh {
                    SegregatedHeapCore.format(core, page, classIndex: classIndex)
                }
                SegregatedHeapCore.claim(core, page, allocator: la, cache: cache, ownerLock: ownerLock)
                heapLock.pointee.unlock()
                ownerLock.pointee.unlock()
                ThreadCache.noteTookPage(cache, registry: registry)
                return
            }
            heapLock.pointee.unlock()
            ownerLock.pointee.unlock()
            heapLock.pointee.lock()
            let prepared: Bool
            do {
                prepared = try prepareBlankPage()
            } catch {
                heapLock.pointee.unlock()
                throw error
            }
            heapLock.pointee.unlock()
            if !prepared {
                // Only pages a decommit pass is giving back could serve: wait for the pass.
                core.pointee.decommitLock.pointee.lock()
                core.pointee.decommitLock.pointee.unlock()
            }
        }
    }

    /// True if an empty page is committed or a fresh page is left: `takeBlankPage` can run
    /// without a system call. Caller holds the heap lock.
    func blankPageIsReady() -> Bool {
        let empty = core.pointee.emptyHead
        if empty != 0 { return PageRef(empty, core.pointee.layout).fields.pointee.decommitted == 0 }
        return SegregatedHeapCore.hasFreshPage(core)
    }

    /// Makes `blankPageIsReady` true: commits the first empty page again if it was decommitted,
    /// or adds a chunk if no empty or fresh page is left; returns true. Returns false instead
    /// of adding a chunk while a decommit pass holds empty pages (`decommittingPages`): the
    /// caller waits for the pass, since those pages will serve. Caller holds the heap lock (and
    /// no thread or directory lock). Throws the chunk source's error.
    func prepareBlankPage() throws(PasError) -> Bool {
        let layout = core.pointee.layout
        let empty = core.pointee.emptyHead
        if empty != 0 {
            let page = PageRef(empty, layout)
            let f = page.fields
            if f.pointee.decommitted != 0 {
                try chunks.commit(MemoryRange(start: page.pageStart, byteCount: layout.pageSize))
                f.pointee.decommitted = 0
                core.pointee.decommittedPages -= 1
            }
            return true
        }
        if !SegregatedHeapCore.hasFreshPage(core) {
            if core.pointee.decommittingPages > 0 { return false }
            let chunk = try chunks.allocateChunk(byteCount: layout.chunkSize, alignment: layout.chunkSize)
            SegregatedHeapCore.addChunk(core, chunk)
        }
        return true
    }

    /// The first empty page, else a fresh one (`blankPageIsReady` holds); in state `empty` or
    /// `full`, formatted for some class, naming the heap lock. Caller holds the heap lock.
    func takeBlankPage() -> PageRef {
        let empty = core.pointee.emptyHead
        if empty != 0 { return PageRef(empty, core.pointee.layout) }
        return SegregatedHeapCore.takeFreshPage(core)
    }
}

// The out-of-line halves of the fast paths are free functions, not methods, so that the heap is
// an ordinary argument: the fast paths then need no callee-saved register and end in a tail jump.

/// The deallocation fast path: if the calling thread owns the page of `address` and `address`
/// starts an object (`PageHeader.exactLimit`: the multiply that finds the slot, and one
/// compare), marks the slot free in the owner's pool, appends the page to its allocator's ready
/// queue if it is neither current nor queued, and returns true. No lock, no atomic.
/// Invariant: `address` is an object of a heap laid out as `layout`, so the header computed from
/// it is that page's header.
@inlinable @inline(__always)
func segregatedFreeIfOwned(_ address: UInt, layout: PageLayout) -> Bool {
    let header = layout.header(containing: address)
    let fields = UnsafeMutablePointer<PageHeader>(bitPattern: header).unsafelyUnwrapped
    let cache = unsafeBitCast(ThreadLocalSlot.load(), to: UInt.self)
    guard segregatedIsOwner(fields, cache: cache) else { return false }
    let product = UInt64(address & layout.pageMask) &* UInt64(fields.pointee.reciprocal)
    guard UInt32(truncatingIfNeeded: product) < fields.pointee.exactLimit else { return false }
    let slot = product &>> 32
    let word = UnsafeMutablePointer<UInt64>(
        bitPattern: header &+ UInt(layout.ownerFreeOffset) &+ UInt((slot &>> 6) &<< 3)
    ).unsafelyUnwrapped
    word.pointee |= UInt64(1) &<< (slot & 63)
    // A page that is neither current nor queued joins its allocator's ready queue.
    if fields.pointee.queued == 0 { segregatedQueueReady(fields, cache: cache) }
    return true
}

/// The free fast path's rarer step: `page`, owned by the calling thread's cache `cache` and
/// neither its allocator's current page nor in its ready queue, received a free; append it to
/// that allocator's ready queue. Owner only: no lock, no atomic.
@usableFromInline @inline(never)
func segregatedQueueReady(_ page: UnsafeMutablePointer<PageHeader>, cache: UInt) {
    // Invariant: `page` is owned by `cache` (the caller checked), so `allocatorSlot` names one
    // of that live cache's allocators, which only this thread writes.
    let la = ThreadCache.allocator(
        UnsafeMutableRawPointer(bitPattern: cache).unsafelyUnwrapped, slot: Int(page.pointee.allocatorSlot))
    LocalAllocator.enqueueReady(la, page: page)
}

/// The fast path's ownership test: true if the page's `owner` is `cache`, the calling
/// thread's cache. The one unlocked access to `owner`, in a function of its own so that
/// scripts/tsan.supp can name it (`race:segregatedIsOwner`) and nothing else.
///
/// ThreadSanitizer reports this load against the stores of `owner` that other threads make
/// under the page's locks (`SegregatedHeapCore.claim` and `formatColdStart` for their own cache,
/// `releaseCurrentPage` / `releaseColdStartPage` / `format` storing `PageHeader.unowned`), and
/// against Swift's instrumentation of `f.pointee.field op= ...` in `carve`, `freeRemotely`,
/// `releaseCurrentPage` (a "modifying access" of the whole `PageHeader`, which TSan records at
/// the header's first byte, i.e. on `owner`; the machine code stores only the named field).
/// No happens-before edge orders those stores before this load, and none is needed: the answer
/// depends only on whether the word holds `cache`, and that value is stored and withdrawn only
/// by the calling thread itself (every `claim`/`formatColdStart` names the claimer's own cache;
/// every release runs on the owning thread: `allocateSlow` (also when it honours a stop
/// request), `flushThreadCache` with `ThreadCache.current`, thread exit with the exiting
/// thread's cache, which releases all its pages before its cache is unmapped, so a later cache
/// at the same address finds none). So by per-location coherence this thread reads `cache` exactly when its own
/// latest store to the word was `cache`, whatever other threads stored before. The bitmap
/// words the fast path then writes are handed over properly: a page leaves this thread only
/// through its own release, under its class's directory lock (and the heap lock if it became
/// empty), one of which the next claimer takes before its stores, so the release
/// happens-before them (FutexLock's acquire/release atomics, which TSan models; it reports no race between
/// the `ownerFree` store below and `claim`, `releaseCurrentPage` or `mergeRemote`).
/// Cost: one load and compare (inlined; the same instructions as before the split).
@inlinable @inline(__always)
func segregatedIsOwner(_ fields: UnsafeMutablePointer<PageHeader>, cache: UInt) -> Bool {
    fields.pointee.owner == cache
}

/// Refill and allocate; when the chunk source is exhausted, the heap's `exhaustedFallback`
/// (if any); nil on failure.
@usableFromInline @inline(never)
func segregatedAllocateSlowOrNil<Config, Chunks>(
    _ heap: SegregatedHeap<Config, Chunks>,
    classIndex: Int
) -> UnsafeMutableRawPointer? {
    do {
        return try heap.allocateSlow(classIndex: classIndex)
    } catch {
        guard case .outOfMemory = error, let fallback = heap.exhaustedFallback else { return nil }
        return fallback.allocate(fallback.context, heap.size(ofClass: classIndex))
    }
}

/// A C function and its context that serve an allocation a segregated heap could not (its
/// memory is exhausted): `allocate(context, size)` returns `size` bytes (16-byte aligned) from
/// elsewhere, or nil. Called with no heap lock held.
public struct SegregatedExhaustedFallback: @unchecked Sendable {
    /// Passed back to `allocate`; owned by whoever set the fallback.
    public let context: UnsafeMutableRawPointer
    /// Serves `size` bytes (the class size of the failed request) from elsewhere, or nil.
    public let allocate: @convention(c) (UnsafeMutableRawPointer, Int) -> UnsafeMutableRawPointer?

    /// A fallback calling `allocate(context, size)`.
    public init(
        context: UnsafeMutableRawPointer,
        allocate: @convention(c) (UnsafeMutableRawPointer, Int) -> UnsafeMutableRawPointer?
    ) {
        self.context = context
        self.allocate = allocate
    }
}

/// Log a free of an object in a page the calling thread does not own.
@usableFromInline @inline(never)
func segregatedDeallocateNotOwned<Config, Chunks>(_ heap: SegregatedHeap<Config, Chunks>, _ address: UInt) {
    heap.deallocateNotOwned(address)
}

extension SegregatedHeap where Chunks == ReservationChunkSource<SystemPageSource> {
    /// A heap over its own `ReservationChunkSource(source: SystemPageSource.shared)`.
    public convenience init(
        coldStart: Bool = true, timeSource: (any TimeSource)? = nil,
        pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
    ) throws(PasError) {
        try self.init(
            chunks: ReservationChunkSource(source: SystemPageSource.shared),
            coldStart: coldStart, timeSource: timeSource,
            pageSharing: pageSharing, scavengeDelay: scavengeDelay)
    }
}
