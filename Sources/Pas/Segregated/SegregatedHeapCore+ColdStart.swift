/// Cold start: while a class of a young heap has carved fewer than `coldStartBudget` bytes, its
/// objects are carved from one page common to all classes instead of a page of its own, so a
/// lightly used heap touches one page rather than one per class.
///
/// The cold-start page is owned by one thread cache at a time, like any owned page: the owner
/// carves runs of up to 16 objects (about 256 bytes) by bump into a local allocator's window;
/// its frees (its own too: a cold-start page's `exactLimit` is 0, so the free fast path never
/// takes them) are checked against the class map and go through logs. Freed slots of a
/// cold-start page are not reused: once its bump space is spent (or its owner exits or flushes),
/// the page is released and becomes empty when its last object is freed, and is then reused
/// like any empty page. A cold-start page always names the heap lock (`PageLock`); the functions
/// here run under it, by the owning thread, except `releaseAll`.
extension SegregatedHeapCore {
    /// Objects per carve of class size `size`.
    @inline(__always)
    static func carveCount(size: Int) -> Int { max(1, min(16, 256 / size)) }

    /// True if class `classIndex` should carve from the cold-start page.
    @inline(__always)
    static func wantsColdStart(_ core: UnsafeMutablePointer<SegregatedHeapCore>, classIndex: Int) -> Bool {
        core.pointee.coldStartBytes[classIndex] < core.pointee.coldStartBudget
    }

    /// Formats a blank page (fresh or empty, in no list) as the cold-start page owned by `cache`.
    static func formatColdStart(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, cache: UnsafeMutableRawPointer)
    {
        let f = page.fields
        for i in 0 ..< Int(f.pointee.wordCount) { page.allocBits[i] = 0; page.ownerFree[i] = 0; page.remoteFree[i] = 0 }
        let granules = page.layout.pageSize / SizeClasses.minAlign
        setState(core, page, PageHeader.owned)
        f.pointee.owner = UInt(bitPattern: cache)
        f.pointee.reciprocal = UInt32(((UInt64(1) << 32) + 15) / 16)
        // Every free of a cold-start page goes to the slow path, which checks the class map.
        f.pointee.exactLimit = 0
        f.pointee.objectSize = UInt32(SizeClasses.minAlign)
        f.pointee.objectsPerPage = UInt32(granules)
        f.pointee.classIndex = PageHeader.coldStartClassIndex
        f.pointee.wordCount = UInt16((granules + 63) / 64)
        f.pointee.allocatedCount = 0
        f.pointee.remoteFreeCount = 0
        f.pointee.queued = 0
        f.pointee.bumpGranule = UInt16(page.mapGranules)
        // Invariant: the map lies in the page's first granules, which no object uses.
        page.classMap.initialize(repeating: 0, count: granules)
        core.pointee.coldStartPage = page.address
    }

    /// Carves a run of objects of `classIndex` from the cold-start page owned by `cache` into
    /// `allocator`. Returns false if there is no cold-start page owned by `cache` or it lacks room.
    static func carve(
        _ core: UnsafeMutablePointer<SegregatedHeapCore>, classIndex: Int,
        allocator: UnsafeMutablePointer<LocalAllocator>, cache: UnsafeMutableRawPointer
    ) -> Bool {
        let address = core.pointee.coldStartPage
        guard address != 0 else { return false }
        let page = PageRef(address, core.pointee.layout)
        let f = page.fields
        guard f.pointee.owner == UInt(bitPattern: cache) else { return false }
        let size = Int(core.pointee.classSize[classIndex])
        let step = size / SizeClasses.minAlign
        let count = carveCount(size: size)
        let first = Int(f.pointee.bumpGranule)
        guard first + count * step <= Int(f.pointee.objectsPerPage) else { return false }
        let map = page.classMap
        for k in 0 ..< count {
            let g = first + k * step
            page.allocBits[g >> 6] |= UInt64(1) << UInt64(g & 63)
            map[g] = UInt8(classIndex + 1)
            if step > 1 { (map + g + 1).update(repeating: PageHeader.interiorGranule, count: step - 1) }
        }
        f.pointee.allocatedCount += UInt16(count)
        f.pointee.bumpGranule = UInt16(first + count * step)
        core.pointee.coldStartBytes[classIndex] += count * size
        // Precondition: the allocator owns no ring (`ringCount == 0`) and its window is empty.
        allocator.pointee.word = count == 64 ? ~0 : (UInt64(1) << UInt64(count)) - 1
        allocator.pointee.base = page.pageStart + UInt(first * SizeClasses.minAlign)
        allocator.pointee.objectSize = UInt32(size)
        allocator.pointee.page = address
        return true
    }

    /// The class of the object starting at granule `granule` of a cold-start page, or nil if no
    /// object starts there.
    @inline(__always)
    static func coldStartClass(of page: PageRef, granule: Int) -> Int? {
        guard granule >= page.mapGranules, granule < Int(page.fields.pointee.bumpGranule) else { return nil }
        let byte = page.classMap[granule]
        return byte == 0 || byte == PageHeader.interiorGranule ? nil : Int(byte) - 1
    }

    /// Puts the window of an allocator that points into cold-start `page` back as owner-free
    /// granule bits and detaches the allocator.
    static func returnColdStartWindow(_ page: PageRef, allocator: UnsafeMutablePointer<LocalAllocator>) -> Int {
        var window = allocator.pointee.word
        var duplicates = 0
        let first = Int((allocator.pointee.base &- page.pageStart) >> UInt(SizeClasses.minAlignShift))
        let step = Int(allocator.pointee.objectSize) >> SizeClasses.minAlignShift
        while window != 0 {
            let g = first + window.trailingZeroBitCount * step
            let bit = UInt64(1) << UInt64(g & 63)
            if page.ownerFree[g >> 6] & bit != 0 { duplicates += 1 }
            page.ownerFree[g >> 6] |= bit
            window &= window &- 1
        }
        allocator.pointee.word = 0
        allocator.pointee.base = 0
        allocator.pointee.page = 0
        return duplicates
    }

    /// Releases the cold-start `page` owned by `cache`: every allocator of this heap in `cache`
    /// that carves from it gives its window back, free slots are cleared, the page becomes
    /// unowned (`coldStart`, or `empty` if nothing in it is live) and stops being the bump page.
    static func releaseColdStartPage(
        _ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef,
        cache: UnsafeMutableRawPointer, now: inout UInt64?
    ) {
        for c in 0 ..< core.pointee.classCount {
            let la = ThreadCache.allocator(cache, slot: core.pointee.allocatorBase + c)
            if la.pointee.page == page.address {
                count(core, CoreCounter.lateDoubleFrees, returnColdStartWindow(page, allocator: la))
            }
        }
        freeOwnerPool(core, page)
        let f = page.fields
        f.pointee.owner = PageHeader.unowned
        if core.pointee.coldStartPage == page.address { core.pointee.coldStartPage = 0 }
        settle(core, page, now: &now)
    }

    /// Gives back every page `cache` holds in this heap (thread exit, `flushThreadCache`), each
    /// under its own locks. Runs on the thread that owns `cache`; caller holds no lock.
    static func releaseAll(_ core: UnsafeMutablePointer<SegregatedHeapCore>, cache: UnsafeMutableRawPointer) {
        var now: UInt64? = nil
        let layout = core.pointee.layout
        let heapLock = core.pointee.heapLock
        for c in 0 ..< core.pointee.classCount {
            let la = ThreadCache.allocator(cache, slot: core.pointee.allocatorBase + c)
            guard la.pointee.page != 0 else { continue }
            let page = PageRef(la.pointee.page, layout)
            if page.isColdStart {
                heapLock.pointee.lock()
                releaseColdStartPage(core, page, cache: cache, now: &now)
                heapLock.pointee.unlock()
            }
            while la.pointee.ringCount > 0 { releaseCurrentPage(core, allocator: la, now: &now) }
            // Invariant: releasing the ring drained the ready queue (queued pages become current first).
            assert(la.pointee.readyHead == 0 && la.pointee.readyTail == 0)
        }
        heapLock.pointee.lock()
        let coldStartPage = core.pointee.coldStartPage
        if coldStartPage != 0, PageRef(coldStartPage, layout).fields.pointee.owner == UInt(bitPattern: cache) {
            releaseColdStartPage(core, PageRef(coldStartPage, layout), cache: cache, now: &now)
        }
        heapLock.pointee.unlock()
    }
}
