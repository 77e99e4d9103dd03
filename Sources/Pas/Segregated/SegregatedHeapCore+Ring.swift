import PasSystem
import Synchronization

/// The ring of pages a local allocator owns: taking a page, refilling the window from the
/// owner's pools, taking in remote frees, and giving pages back. Frees by the owning thread into
/// any page of its rings are local (the fast path only compares the page's owner with the
/// thread cache), so a thread that frees what it allocated rarely touches the lock.
///
/// Ring links (`prev`/`next` of the page headers) and the allocator's fields belong to the owning
/// thread; each function says which locks it takes or expects (see `PageLock` and the lock order
/// in `HeapRegistry`).
extension SegregatedHeapCore {
    /// Pages a local allocator owns before it gives one back, to begin with: 128 KiB worth, at
    /// least 2. The allocator's `ringGrowth` adds to it (see `noteSelfFree`).
    static func ringCapacity(_ layout: PageLayout) -> Int { max(2, (128 << 10) >> layout.pageShift) }

    /// Most pages a local allocator can come to own: 2 MiB worth, at least 2.
    static func maxRingCapacity(_ layout: PageLayout) -> Int { max(2, (2 << 20) >> layout.pageShift) }

    /// Frees of a thread's objects into pages it gave back that add one page to its ring.
    static let selfFreesPerRingPage: UInt32 = 32

    /// Pages `la` may own before it gives one back.
    @inline(__always)
    static func ringCapacity(_ la: UnsafeMutablePointer<LocalAllocator>, layout: PageLayout) -> Int {
        min(ringCapacity(layout) &+ Int(la.pointee.ringGrowth), maxRingCapacity(layout))
    }

    /// Under the page's lock, by the thread `freer`: one of its objects was freed into `page`, which it
    /// gave back (the free went through the log). Its live objects of this class outgrow its
    /// ring, so every `selfFreesPerRingPage` such frees let the ring hold one more page (up to
    /// `maxRingCapacity`). Frees of other threads' objects never grow a ring, so pages that
    /// objects passed between threads live in stay few and mostly unowned (cheap remote frees).
    @inline(never)
    static func noteSelfFree(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, freer: UnsafeMutableRawPointer) {
        guard !page.isColdStart else { return }
        let layout = page.layout
        // Invariant: `freer` is the calling thread's live cache, so its allocator slots are
        // mapped and only this thread writes them.
        let la = ThreadCache.allocator(freer, slot: core.pointee.allocatorBase &+ Int(page.fields.pointee.classIndex))
        let count = la.pointee.selfFrees &+ 1
        if count < selfFreesPerRingPage {
            la.pointee.selfFrees = count
            return
        }
        la.pointee.selfFrees = 0
        if ringCapacity(layout) &+ Int(la.pointee.ringGrowth) < maxRingCapacity(layout) { la.pointee.ringGrowth &+= 1 }
    }

    /// Makes `page` (fresh, empty or eligible; formatted for the allocator's class) owned by
    /// `cache`, biased to `ownerLock`; moves its free slots to the owner's pool (marking them
    /// allocated), links it into the allocator's ring and makes it the current page with an
    /// empty window. Caller holds `ownerLock` (the cache's thread lock, or the class's directory
    /// lock if the cache has none) and the lock the page names now with its list's lock (the
    /// directory lock for an eligible page, the heap lock for a blank one).
    static func claim(
        _ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef,
        allocator la: UnsafeMutablePointer<LocalAllocator>, cache: UnsafeMutableRawPointer,
        ownerLock: UnsafeMutablePointer<FutexLock>
    ) {
        let f = page.fields
        setState(core, page, PageHeader.owned)
        PageLock.retarget(page, to: ownerLock)
        for i in 0 ..< Int(f.pointee.wordCount) {
            let full = page.fullMask(word: i)
            page.ownerFree[i] = full & ~page.allocBits[i]
            page.allocBits[i] = full
        }
        f.pointee.allocatedCount = UInt16(truncatingIfNeeded: f.pointee.objectsPerPage)
        f.pointee.owner = UInt(bitPattern: cache)
        // The page becomes current: queued, so frees into it do not push it.
        f.pointee.queued = 1
        f.pointee.allocatorSlot = UInt16(
            truncatingIfNeeded: (UnsafeMutableRawPointer(la) - cache - ThreadCache.allocatorsOffset) >> LocalAllocator.strideShift
        )
        if la.pointee.ringCount == 0 {
            f.pointee.prev = page.address
            f.pointee.next = page.address
        } else {
            let current = PageRef(la.pointee.page, page.layout).fields
            // The old current page stops being current (it is dry, and not queued).
            current.pointee.queued = 0
            let next = current.pointee.next
            f.pointee.prev = la.pointee.page
            f.pointee.next = next
            PageRef(next, page.layout).fields.pointee.prev = page.address
            current.pointee.next = page.address
        }
        la.pointee.ringCount += 1
        la.pointee.page = page.address
        la.pointee.word = 0
        la.pointee.base = page.pageStart
        la.pointee.objectSize = f.pointee.objectSize
    }

    /// Owner side, no lock: loads the next non-empty owner-free word into the window, from the
    /// current page or else from the oldest page of the ready queue (which becomes current).
    /// Returns false if the current page's pool and the queue are empty; the current page then
    /// stays current. Visits no page without free slots but the current one.
    /// Precondition: the window is empty and `page` is a ring page.
    ///
    /// The ready queue's protocol (owner only): a ring page's `queued` is 1 exactly while it is
    /// current or in the queue. The free fast path (and the checked free) appends a page whose
    /// flag is 0, so every queued page has a free slot (its bits are taken only while it is
    /// current); a refill that finds the current page dry takes the oldest queued page, which
    /// becomes current, and clears the old current page's flag. `mergeRemoteInRing` queues the
    /// pages it gives remote frees to. `releaseCurrentPage`, the only way a page leaves a ring,
    /// releases the current page, never a queued one, and takes the next current page from the
    /// queue first; `claim` clears the flag of the (dry) current page it replaces.
    static func refillFromRing(_ la: UnsafeMutablePointer<LocalAllocator>, layout: PageLayout) -> Bool {
        let current = PageRef(la.pointee.page, layout)
        if takeOwnerFreeWord(la, page: current) { return true }
        while true {
            let next = LocalAllocator.dequeueReady(la)
            guard next != 0 else { return false }
            // `next` keeps `queued == 1`, now as the current page.
            if takeOwnerFreeWord(la, page: PageRef(next, layout)) {
                current.fields.pointee.queued = 0
                return true
            }
            // Not reached while the protocol holds (a queued page has a free slot).
            PageRef(next, layout).fields.pointee.queued = 0
        }
    }

    /// Owner side, no lock: if `page` has a non-empty owner-free word, makes it the allocator's
    /// current page with that word as the window, and returns true.
    @inline(__always)
    static func takeOwnerFreeWord(_ la: UnsafeMutablePointer<LocalAllocator>, page: PageRef) -> Bool {
        let words = Int(page.fields.pointee.wordCount)
        let free = page.ownerFree
        for i in 0 ..< words where free[i] != 0 {
            // Bracket the switch with the allocator's sequence so that `ownerHoldsFree` on
            // another thread never pairs a word with another window's page or base.
            let sequence = la.pointee.sequence
            la.pointee.sequence = sequence &+ 1
            atomicMemoryFence(ordering: .releasing)
            la.pointee.page = page.address
            la.pointee.base = page.pageStart &+ UInt(i &* 64) &* UInt(la.pointee.objectSize)
            la.pointee.word = free[i]
            atomicMemoryFence(ordering: .releasing)
            la.pointee.sequence = sequence &+ 2
            free[i] = 0
            return true
        }
        return false
    }

    /// Owner side; caller holds no lock. Takes in the remote frees of every ring page under its
    /// page lock (the owner's thread lock for every page still biased to it, so usually one lock
    /// for the whole ring), queueing the pages that got some (unless current or queued already);
    /// true if there were any. Walks the ring only if remote frees reached owned pages of the
    /// heap since this allocator's last walk (`remoteFreesSeen`), so a ring that runs dry in a
    /// thread whose frees are its own costs no second walk.
    static func mergeRemoteInRing(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ la: UnsafeMutablePointer<LocalAllocator>)
        -> Bool
    {
        let recorded = counter(core, CoreCounter.ownedPageRemoteFrees)
        guard la.pointee.remoteFreesSeen != recorded else { return false }
        la.pointee.remoteFreesSeen = recorded
        var merged = false
        var held: UnsafeMutablePointer<FutexLock>? = nil
        var address = la.pointee.page
        for _ in 0 ..< Int(la.pointee.ringCount) {
            let page = PageRef(address, core.pointee.layout)
            let f = page.fields
            PageLock.lock(page, holding: &held)
            if f.pointee.remoteFreeCount != 0 {
                mergeRemote(core, page)
                merged = true
                if f.pointee.queued == 0 { LocalAllocator.enqueueReady(la, page: f) }
            }
            address = page.fields.pointee.next
        }
        PageLock.release(&held)
        return merged
    }

    /// Owner side; caller holds no lock. Gives the current page of the ring back to the heap
    /// under its page lock and its class's directory lock (which the page names from then on).
    /// Its window and pool become free slots; the page becomes full, eligible or empty; the next
    /// ring page (if any) becomes current with an empty window.
    static func releaseCurrentPage(
        _ core: UnsafeMutablePointer<SegregatedHeapCore>,
        allocator la: UnsafeMutablePointer<LocalAllocator>, now: inout UInt64?
    ) {
        let page = PageRef(la.pointee.page, core.pointee.layout)
        let f = page.fields
        let directory = directoryLock(core, Int(f.pointee.classIndex))
        var held: UnsafeMutablePointer<FutexLock>? = nil
        PageLock.lock(page, holding: &held)
        // Held: the owner's thread lock (biased) or the directory lock (un-biased); lock order
        // thread, then directory.
        let biased = held != directory
        if biased { directory.pointee.lock() }
        let window = la.pointee.word
        if window != 0 {
            let size = UInt(f.pointee.objectSize)
            let w = Int((la.pointee.base &- page.pageStart) / (size &* 64))
            count(core, CoreCounter.lateDoubleFrees, (window & page.ownerFree[w]).nonzeroBitCount)
            page.ownerFree[w] |= window
        }
        freeOwnerPool(core, page)
        // Unlink from the ring.
        let next = f.pointee.next
        let prev = f.pointee.prev
        la.pointee.ringCount -= 1
        if la.pointee.ringCount == 0 {
            // Invariant: the queue holds ring pages other than the current one, so it is empty.
            la.pointee.page = 0
        } else {
            PageRef(prev, page.layout).fields.pointee.next = next
            PageRef(next, page.layout).fields.pointee.prev = prev
            // The next current page: the oldest queued page (already flagged), else the next
            // ring page (not queued, since the queue is empty).
            let ready = LocalAllocator.dequeueReady(la)
            if ready != 0 {
                la.pointee.page = ready
            } else {
                la.pointee.page = next
                PageRef(next, page.layout).fields.pointee.queued = 1
            }
        }
        la.pointee.word = 0
        la.pointee.base = la.pointee.page == 0 ? 0 : PageRef(la.pointee.page, page.layout).pageStart
        f.pointee.prev = 0
        f.pointee.next = 0
        f.pointee.queued = 0
        f.pointee.lastOwner = f.pointee.owner
        f.pointee.owner = PageHeader.unowned
        if biased {
            PageLock.retarget(page, to: directory)
            PageLock.release(&held)
        }
        settle(core, page, now: &now)
        directory.pointee.unlock()
    }
}
