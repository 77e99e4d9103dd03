import PasSystem
import Synchronization

/// Frees applied by threads that do not own the page, and how an owner takes them in.
/// Every function runs with the page's lock held (`PageLock`).
extension SegregatedHeapCore {
    /// Counts of a run of remote frees, added to the heap's counters once per run
    /// (`RemoteFreeTally.publish`) rather than once per free.
    struct RemoteFreeTally {
        var remoteFrees = 0
        var lateDoubleFrees = 0
        var ownedPageRemoteFrees = 0

        /// Adds the counts to `core`'s counters and clears them (see
        /// `CoreCounter.ownedPageRemoteFrees`).
        @inline(__always)
        mutating func publish(_ core: UnsafeMutablePointer<SegregatedHeapCore>) {
            SegregatedHeapCore.count(core, CoreCounter.remoteFrees, remoteFrees)
            SegregatedHeapCore.count(core, CoreCounter.lateDoubleFrees, lateDoubleFrees)
            SegregatedHeapCore.count(core, CoreCounter.ownedPageRemoteFrees, ownedPageRemoteFrees)
            self = RemoteFreeTally()
        }
    }

    /// Owner side, under the page lock: moves remote frees into the owner's pool. A slot found in
    /// both (a double free) is counted in `lateDoubleFrees` and kept once.
    static func mergeRemote(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef) {
        let f = page.fields
        guard f.pointee.remoteFreeCount != 0 else { return }
        var duplicates = 0
        for i in 0 ..< Int(f.pointee.wordCount) {
            let r = page.remoteFree[i]
            guard r != 0 else { continue }
            duplicates += (r & page.ownerFree[i]).nonzeroBitCount
            page.ownerFree[i] |= r
            page.remoteFree[i] = 0
        }
        f.pointee.remoteFreeCount = 0
        count(core, CoreCounter.lateDoubleFrees, duplicates)
    }

    /// Owner side, under the page lock, as the owner gives `page` back: takes in its remote
    /// frees, then turns every slot of its pool (owner-free) into a free slot (allocated bit
    /// cleared).
    static func freeOwnerPool(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef) {
        mergeRemote(core, page)
        let f = page.fields
        var freed = 0
        for i in 0 ..< Int(f.pointee.wordCount) {
            let free = page.ownerFree[i]
            guard free != 0 else { continue }
            freed += free.nonzeroBitCount
            page.allocBits[i] &= ~free
            page.ownerFree[i] = 0
        }
        f.pointee.allocatedCount -= UInt16(freed)
    }

    /// Puts an unowned page in the list its count calls for. Caller holds the page's lock: its
    /// class's directory lock, or the heap lock for a cold-start page. A page that becomes empty
    /// moves to the heap's empty list and names the heap lock from then on (the heap lock is
    /// taken here if the caller does not hold it; lock order: directory, then heap).
    @inline(__always)
    static func settle(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, now: inout UInt64?) {
        let f = page.fields
        let count = f.pointee.allocatedCount
        if count == 0 {
            let heapLock = core.pointee.heapLock
            let onHeapLock = PageLock.names(page, heapLock)
            if !onHeapLock { heapLock.pointee.lock() }
            setState(core, page, PageHeader.empty, now: SegregatedHeapCore.now(core, &now))
            if !onHeapLock {
                PageLock.retarget(page, to: heapLock)
                heapLock.pointee.unlock()
            }
        } else if page.isColdStart {
            setState(core, page, PageHeader.coldStart)
        } else if count < f.pointee.objectsPerPage {
            setState(core, page, PageHeader.eligible)
        } else {
            setState(core, page, PageHeader.full)
        }
    }

    /// Applies one free of `address` (an object of this heap) made by a thread that does not own
    /// its page. Caller holds the page's lock. Double frees are counted in `tally` and ignored.
    /// `freer` is the freeing thread's cache when it is that thread that applies the free (a log
    /// flush), else nil; a free into a page `freer` gave back may grow its ring (`noteSelfFree`).
    static func freeRemotely(
        _ core: UnsafeMutablePointer<SegregatedHeapCore>, address: UInt, freer: UnsafeMutableRawPointer?,
        now: inout UInt64?, tally: inout RemoteFreeTally
    ) {
        let layout = core.pointee.layout
        let page = PageRef(layout.header(containing: address), layout)
        let f = page.fields
        let slot = page.slot(of: address)
        let word = slot >> 6
        // Invariant (checked API) or precondition (logs): `address` starts an object slot.
        let bit = UInt64(1) << UInt64(slot & 63)
        tally.remoteFrees += 1
        guard page.allocBits[word] & bit != 0 else { tally.lateDoubleFrees += 1; return }
        if f.pointee.owner == PageHeader.unowned {
            if f.pointee.lastOwner == UInt(bitPattern: freer), let freer { noteSelfFree(core, page, freer: freer) }
            page.allocBits[word] &= ~bit
            let count = f.pointee.allocatedCount - 1
            f.pointee.allocatedCount = count
            if count == 0 || f.pointee.state == PageHeader.full { settle(core, page, now: &now) }
        } else {
            guard page.remoteFree[word] & bit == 0, !ownerHoldsFree(core, page, slot: slot) else {
                tally.lateDoubleFrees += 1
                return
            }
            page.remoteFree[word] |= bit
            f.pointee.remoteFreeCount += 1
            tally.ownedPageRemoteFrees += 1
        }
    }

    /// True if `slot` of the owned `page` sits in its owner's pool or current window, i.e. is
    /// already free. Caller holds the page's lock, which keeps the owner's cache mapped (a cache
    /// gives back each of its pages under that page's lock before it is unmapped).
    ///
    /// Reads the owner's private state without synchronisation. The answer is still exact for a
    /// slot that is allocated from the heap's point of view: a correct free of it happens after
    /// the owner popped it (the program passed the object on), so the owner's later writes can
    /// set its bit again only through a local free of the same object, which is a double free.
    static func ownerHoldsFree(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, slot: Int) -> Bool {
        let f = page.fields
        if page.ownerFree[slot >> 6] & (UInt64(1) << UInt64(slot & 63)) != 0 { return true }
        guard let cache = UnsafeMutableRawPointer(bitPattern: f.pointee.owner), f.pointee.owner != PageHeader.unowned else {
            return false
        }
        var classIndex = Int(f.pointee.classIndex)
        var slotSize = Int(f.pointee.objectSize)
        if page.isColdStart {
            guard let c = coldStartClass(of: page, granule: slot) else { return false }
            classIndex = c
            slotSize = SizeClasses.minAlign
        }
        let la = ThreadCache.allocator(cache, slot: core.pointee.allocatorBase + classIndex)
        // `objectSize` is the class's object size from the allocator's first page on (the owner
        // set it before this page became its, under this page's lock, which we hold). The owner
        // may switch its window (page, base, word) without a lock, inside an odd `sequence`;
        // pops only clear bits.
        // So read page, base and word between two equal even sequence values.
        var current: UInt
        var base: UInt
        var word: UInt64
        var sequence: UInt32
        var attempts = 0
        repeat {
            attempts += 1
            if attempts & 63 == 0 { SystemThread.yield() } // the owner was descheduled mid-refill
            sequence = la.pointee.sequence
            atomicMemoryFence(ordering: .acquiring)
            current = la.pointee.page
            base = la.pointee.base
            word = la.pointee.word
            atomicMemoryFence(ordering: .acquiring)
        } while sequence & 1 != 0 || la.pointee.sequence != sequence
        guard current == page.address else { return false }
        guard word != 0 else { return false }
        // Window bit i is the object at base + i * objectSize, i.e. slot (offset / slotSize).
        let offset = Int(bitPattern: page.pageStart &+ UInt(slot * slotSize) &- base)
        guard offset >= 0, offset % Int(la.pointee.objectSize) == 0 else { return false }
        let index = offset / Int(la.pointee.objectSize)
        return index >= 0 && index < 64 && word & (UInt64(1) << UInt64(index)) != 0
    }
}
