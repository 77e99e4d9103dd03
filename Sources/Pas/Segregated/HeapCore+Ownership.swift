import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Page ownership: a thread cache taking a page, refilling from it, and giving it back; and
/// frees applied by other threads. Every function except `takeOwnerFreeWord` runs under the
/// heap's lock.
extension HeapCore {
    /// Makes `page` (in any state but owned) owned by the cache whose allocator is `allocator`:
    /// every free slot moves to the owner's pool and is marked allocated.
    static func claim(_ core: UnsafeMutablePointer<HeapCore>, _ page: PageRef,
                      allocator: UnsafeMutablePointer<LocalAllocator>, cache: UnsafeMutableRawPointer) {
        let f = page.fields
        setState(core, page, PageHeader.owned)
        for i in 0 ..< Int(f.pointee.wordCount) {
            let full = page.fullMask(word: i)
            page.ownerFree[i] = full & ~page.allocBits[i]
            page.allocBits[i] = full
        }
        f.pointee.allocatedCount = f.pointee.objectsPerPage
        f.pointee.owner = UInt(bitPattern: cache)
        allocator.pointee = LocalAllocator(word: 0, base: page.pageStart,
                                           objectSize: Int(f.pointee.objectSize), page: page.address)
    }

    /// Owner side, no lock: loads the next non-empty owner-free word into the allocator's
    /// window. Returns false if the owner's pool is empty.
    @inline(__always)
    static func takeOwnerFreeWord(_ allocator: UnsafeMutablePointer<LocalAllocator>, layout: PageLayout) -> Bool {
        let page = PageRef(allocator.pointee.page, layout)
        let words = Int(page.fields.pointee.wordCount)
        let free = page.ownerFree
        for i in 0 ..< words where free[i] != 0 {
            // The window is empty here. Bracket the change with the allocator's sequence so that
            // `ownerHoldsFree` on another thread never pairs a word with another window's base.
            let sequence = allocator.pointee.sequence
            allocator.pointee.sequence = sequence &+ 1
            atomicMemoryFence(ordering: .releasing)
            allocator.pointee.base = page.pageStart &+ UInt(i &* 64) &* UInt(allocator.pointee.objectSize)
            allocator.pointee.word = free[i]
            atomicMemoryFence(ordering: .releasing)
            allocator.pointee.sequence = sequence &+ 2
            free[i] = 0
            return true
        }
        return false
    }

    /// Owner side, under the lock: moves remote frees into the owner's pool. A slot found in
    /// both (a double free) is counted in `lateDoubleFrees` and kept once.
    static func mergeRemote(_ core: UnsafeMutablePointer<HeapCore>, _ page: PageRef) {
        let f = page.fields
        guard f.pointee.remoteFreeCount != 0 else { return }
        for i in 0 ..< Int(f.pointee.wordCount) {
            let r = page.remoteFree[i]
            guard r != 0 else { continue }
            core.pointee.lateDoubleFrees += (r & page.ownerFree[i]).nonzeroBitCount
            page.ownerFree[i] |= r
            page.remoteFree[i] = 0
        }
        f.pointee.remoteFreeCount = 0
    }

    /// Owner side (or the exiting owner), under the lock: gives the allocator's page back. Its
    /// window and pool become free slots; the page becomes full, eligible or empty.
    static func releaseOwnedPage(_ core: UnsafeMutablePointer<HeapCore>,
                                 allocator: UnsafeMutablePointer<LocalAllocator>, now: inout UInt64?) {
        let page = PageRef(allocator.pointee.page, core.pointee.layout)
        let f = page.fields
        let window = allocator.pointee.word
        if window != 0 {
            let size = UInt(f.pointee.objectSize)
            let w = Int((allocator.pointee.base &- page.pageStart) / (size &* 64))
            core.pointee.lateDoubleFrees += (window & page.ownerFree[w]).nonzeroBitCount
            page.ownerFree[w] |= window
        }
        mergeRemote(core, page)
        var freed = 0
        for i in 0 ..< Int(f.pointee.wordCount) {
            let free = page.ownerFree[i]
            guard free != 0 else { continue }
            freed += free.nonzeroBitCount
            page.allocBits[i] &= ~free
            page.ownerFree[i] = 0
        }
        f.pointee.allocatedCount -= UInt32(freed)
        f.pointee.owner = PageHeader.unowned
        allocator.pointee = LocalAllocator(word: 0, base: 0, objectSize: 0, page: 0)
        settle(core, page, now: &now)
    }

    /// Puts an unowned page in the list its count calls for.
    @inline(__always)
    static func settle(_ core: UnsafeMutablePointer<HeapCore>, _ page: PageRef, now: inout UInt64?) {
        let f = page.fields
        let count = f.pointee.allocatedCount
        if count == 0 {
            setState(core, page, PageHeader.empty, now: HeapCore.now(core, &now))
        } else if page.isShared {
            setState(core, page, PageHeader.shared)
        } else if count < f.pointee.objectsPerPage {
            setState(core, page, PageHeader.eligible)
        } else {
            setState(core, page, PageHeader.full)
        }
    }

    /// Applies one free of `address` (an object of this heap) made by a thread that does not own
    /// its page. Double frees are counted in `lateDoubleFrees` and ignored.
    static func freeRemotely(_ core: UnsafeMutablePointer<HeapCore>, address: UInt, now: inout UInt64?) {
        let layout = core.pointee.layout
        let page = PageRef(layout.header(containing: address), layout)
        let f = page.fields
        let slot = page.slot(of: address)
        let word = slot >> 6
        // Invariant (checked API) or precondition (logs): `address` starts an object slot.
        let bit = UInt64(1) << UInt64(slot & 63)
        core.pointee.remoteFrees += 1
        guard page.allocBits[word] & bit != 0 else { core.pointee.lateDoubleFrees += 1; return }
        if f.pointee.owner == PageHeader.unowned {
            page.allocBits[word] &= ~bit
            let count = f.pointee.allocatedCount - 1
            f.pointee.allocatedCount = count
            if count == 0 || f.pointee.state == PageHeader.full { settle(core, page, now: &now) }
        } else {
            guard page.remoteFree[word] & bit == 0, !ownerHoldsFree(core, page, slot: slot) else {
                core.pointee.lateDoubleFrees += 1
                return
            }
            page.remoteFree[word] |= bit
            f.pointee.remoteFreeCount += 1
        }
    }

    /// True if `slot` of the owned `page` sits in its owner's pool or current window, i.e. is
    /// already free. Caller holds the heap lock, which keeps the owner's cache mapped (a cache
    /// gives back its pages under this lock before it is unmapped).
    ///
    /// Reads the owner's private state without synchronisation. The answer is still exact for a
    /// slot that is allocated from the heap's point of view: a correct free of it happens after
    /// the owner popped it (the program passed the object on), so the owner's later writes can
    /// set its bit again only through a local free of the same object, which is a double free.
    static func ownerHoldsFree(_ core: UnsafeMutablePointer<HeapCore>, _ page: PageRef, slot: Int) -> Bool {
        let f = page.fields
        if page.ownerFree[slot >> 6] & (UInt64(1) << UInt64(slot & 63)) != 0 { return true }
        guard let cache = UnsafeMutableRawPointer(bitPattern: f.pointee.owner), f.pointee.owner != PageHeader.unowned else {
            return false
        }
        var classIndex = Int(f.pointee.classIndex)
        var slotSize = Int(f.pointee.objectSize)
        if page.isShared {
            guard let c = sharedClass(of: page, granule: slot) else { return false }
            classIndex = c
            slotSize = SizeClasses.minAlign
        }
        let la = ThreadCache.allocator(cache, slot: core.pointee.allocatorBase + classIndex)
        // `page` and `objectSize` change only under the lock we hold. The owner may refill the
        // window meanwhile without it (inside an odd `sequence`; pops only clear bits), so read
        // base and word between two equal even sequence values.
        guard la.pointee.page == page.address else { return false }
        var base: UInt
        var word: UInt64
        var sequence: UInt32
        var attempts = 0
        repeat {
            attempts += 1
            if attempts & 63 == 0 { sched_yield() }  // the owner was descheduled mid-refill
            sequence = la.pointee.sequence
            atomicMemoryFence(ordering: .acquiring)
            base = la.pointee.base
            word = la.pointee.word
            atomicMemoryFence(ordering: .acquiring)
        } while sequence & 1 != 0 || la.pointee.sequence != sequence
        guard word != 0 else { return false }
        // Window bit i is the object at base + i * objectSize, i.e. slot (offset / slotSize).
        let offset = Int(bitPattern: page.pageStart &+ UInt(slot * slotSize) &- base)
        guard offset >= 0, offset % Int(la.pointee.objectSize) == 0 else { return false }
        let index = offset / Int(la.pointee.objectSize)
        return index >= 0 && index < 64 && word & (UInt64(1) << UInt64(index)) != 0
    }
}
