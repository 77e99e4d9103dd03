import PasSystem

/// Checking every invariant of the heap's metadata.
extension SegregatedHeap {
    /// Checks the chunk headers, every page's bitmaps and counters against its state, the
    /// eligible and empty lists, and the per-state page counts; for pages the calling thread
    /// owns, also its private pool and window. Pages other threads own are checked for what
    /// the locks protect only; every page's lock word must name the lock its state calls for.
    /// Throws `.corrupted(.verify, address:, reason:)` at the first broken invariant. Cost:
    /// O(pages + bitmap words) with the heap's directory locks and heap lock held
    /// (`HeapRegistry.lockDirectories`), each page that names a thread lock checked under that
    /// lock too (`withPageLocked`; the pass starts over when one is busy). Thread-safe.
    public func verify() throws(PasError) {
        let cache = ThreadCache.current
        while true {
            registry.lockDirectories(heap: heapIndex)
            let done: Bool
            do {
                done = try verifyPass(cache: cache)
            } catch {
                registry.unlockDirectories(heap: heapIndex)
                throw error
            }
            registry.unlockDirectories(heap: heapIndex)
            if done { return }
            SystemThread.yield()
        }
    }

    /// One try at `verify`, with the directory and heap locks held; false if a thread lock was
    /// busy.
    private func verifyPass(cache: UnsafeMutableRawPointer?) throws(PasError) -> Bool {
        var chunk = core.pointee.firstChunk
        var chunks = 0
        while chunk != 0 {
            let words = UnsafeMutablePointer<UInt64>(bitPattern: chunk).unsafelyUnwrapped
            try check(words[0] == SegregatedHeapCore.chunkMagic && words[1] == UInt64(heapIndex), chunk, "chunk header")
            chunks += 1
            chunk = SegregatedHeapCore.nextChunk(after: chunk)
        }
        try check(chunks == core.pointee.chunkCount, 0, "chunk count")
        // Stack memory, not an Array: verify may run where this heap backs malloc.
        return try withUnsafeTemporaryAllocation(of: Int.self, capacity: PageHeader.stateCount) {
            (inState) throws(PasError) -> Bool in
            inState.initialize(repeating: 0)
            return try verifyPages(cache: cache, inState: inState)
        }
    }

    /// The body of `verify()`, with a counter per page state; false if a thread lock was busy.
    /// Caller holds the directory and heap locks. Pages are checked each under its own lock, so
    /// the checks under a thread lock must not allocate (the heap may back malloc, and this
    /// thread's allocations may need its own thread lock): their messages are literals.
    private func verifyPages(cache: UnsafeMutableRawPointer?, inState: UnsafeMutableBufferPointer<Int>) throws(PasError)
        -> Bool
    {
        let layout = Config.layout
        var decommitted = 0
        var decommitting = 0
        var busy = false
        try forEachFormattedPage { (page) throws(PasError) in
            guard !busy else { return }
            busy = try !withPageLocked(page) { () throws(PasError) in
                try verifyPage(
                    page, cache: cache, inState: inState, decommitted: &decommitted, decommitting: &decommitting)
            }
        }
        if busy { return false }
        for s in 1 ..< PageHeader.stateCount {
            try check(inState[s] == SegregatedHeapCore.counter(core, s), 0, "pages in state \(s)")
        }
        try check(decommitted == core.pointee.decommittedPages, 0, "decommitted count")
        try check(decommitting == core.pointee.decommittingPages, 0, "decommitting count")
        // The calling thread's rings: linked both ways, owned by it, of the allocator's class.
        if let cache {
            for c in 0 ..< classCount {
                let la = ThreadCache.allocator(cache, slot: allocatorBase + c)
                let count = Int(la.pointee.ringCount)
                guard count > 0 else { continue }
                var p = la.pointee.page
                for _ in 0 ..< count {
                    let f = PageRef(p, layout).fields
                    try check(
                        f.pointee.owner == UInt(bitPattern: cache) && f.pointee.state == PageHeader.owned
                            && Int(f.pointee.classIndex) == c
                            && PageRef(f.pointee.next, layout).fields.pointee.prev == p, p, "ring of class \(c)")
                    p = f.pointee.next
                }
                try check(p == la.pointee.page, p, "ring of class \(c) does not close")
                // The ready queue: ring pages other than the current one, each with a free slot;
                // `queued` is set exactly on the current page and the queued ones.
                var queuedInRing = 0
                for _ in 0 ..< count {
                    let page = PageRef(p, layout)
                    let f = page.fields
                    if f.pointee.queued != 0 { queuedInRing += 1 }
                    try check(
                        !page.hasOwnerFreeSlot || f.pointee.queued != 0, p, "ring page with free slots neither current nor queued"
                    )
                    try check(Int(f.pointee.allocatorSlot) == allocatorBase + c, p, "ring page's allocator slot")
                    p = f.pointee.next
                }
                try check(
                    PageRef(la.pointee.page, layout).fields.pointee.queued == 1, la.pointee.page, "current page not flagged")
                var inQueue = 0
                var q = la.pointee.readyHead
                var last: UInt = 0
                while q != 0 && inQueue < count {
                    let page = PageRef(q, layout)
                    let f = page.fields
                    try check(
                        q != la.pointee.page && f.pointee.owner == UInt(bitPattern: cache) && f.pointee.state == PageHeader.owned
                            && Int(f.pointee.classIndex) == c && f.pointee.queued == 1 && page.hasOwnerFreeSlot,
                        q, "ready queue of class \(c)")
                    inQueue += 1
                    last = q
                    q = PageHeader.readyNext(f)
                }
                try check(
                    q == 0 && last == la.pointee.readyTail && queuedInRing == inQueue + 1, la.pointee.readyHead,
                    "ready queue of class \(c) does not match the flags")
            }
        }
        let coldStartPage = core.pointee.coldStartPage
        if coldStartPage != 0 {
            let f = PageRef(coldStartPage, layout).fields
            try check(
                f.pointee.classIndex == PageHeader.coldStartClassIndex && f.pointee.state == PageHeader.owned,
                coldStartPage, "cold-start page neither in the cold-start state nor owned")
        }
        // Lists: every linked page has the list's state, links agree, lengths match counts.
        var eligible = 0
        for c in 0 ..< classCount {
            var prev: UInt = 0
            var p = core.pointee.eligibleHead[c]
            while p != 0 {
                let f = PageRef(p, layout).fields
                try check(
                    f.pointee.state == PageHeader.eligible && Int(f.pointee.classIndex) == c
                        && f.pointee.prev == prev, p, "eligible list")
                eligible += 1
                try check(eligible <= inState[Int(PageHeader.eligible)], p, "eligible list cycle")
                prev = p
                p = f.pointee.next
            }
        }
        try check(eligible == inState[Int(PageHeader.eligible)], 0, "eligible list length")
        var empty = 0
        var prev: UInt = 0
        var p = core.pointee.emptyHead
        var seenDecommitted = false
        while p != 0 {
            let f = PageRef(p, layout).fields
            try check(f.pointee.state == PageHeader.empty && f.pointee.prev == prev, p, "empty list")
            if f.pointee.decommitted != 0 {
                seenDecommitted = true
            } else {
                try check(!seenDecommitted, p, "committed page behind decommitted ones")
            }
            empty += 1
            try check(empty <= inState[Int(PageHeader.empty)], p, "empty list cycle")
            prev = p
            p = f.pointee.next
        }
        try check(prev == core.pointee.emptyTail, prev, "empty list tail")
        // Pages a decommit pass holds are empty but out of the list.
        try check(empty == inState[Int(PageHeader.empty)] - core.pointee.decommittingPages, 0, "empty list length")
        return true
    }

    /// Checks one page's fields, bitmaps, counters and lock word against its state, and counts
    /// it in `inState`. Caller holds the page's lock besides the directory and heap locks.
    private func verifyPage(
        _ page: PageRef, cache: UnsafeMutableRawPointer?, inState: UnsafeMutableBufferPointer<Int>,
        decommitted: inout Int, decommitting: inout Int
    ) throws(PasError) {
        let layout = Config.layout
        let f = page.fields
        let a = page.address
        let state = f.pointee.state
        try check(state != PageHeader.fresh && Int(state) < PageHeader.stateCount, a, "state")
        inState[Int(state)] += 1
        let objects = Int(f.pointee.objectsPerPage)
        let c = Int(f.pointee.classIndex)
        let coldStart = page.isColdStart
        if coldStart {
            try check(
                Int(f.pointee.objectSize) == SizeClasses.minAlign && objects == layout.pageSize / SizeClasses.minAlign
                    && Int(f.pointee.wordCount) == (objects + 63) / 64
                    && Int(f.pointee.bumpGranule) >= page.mapGranules && Int(f.pointee.bumpGranule) <= objects,
                a, "cold-start page fields")
        } else {
            try check(
                c < classCount && Int(f.pointee.objectSize) == size(ofClass: c)
                    && objects == layout.pageSize / size(ofClass: c)
                    && Int(f.pointee.wordCount) == (objects + 63) / 64, a, "class fields")
        }
        var allocated = 0, remote = 0
        for i in 0 ..< Int(f.pointee.wordCount) {
            let full = page.fullMask(word: i)
            try check(
                page.allocBits[i] & ~full == 0 && page.remoteFree[i] & ~page.allocBits[i] == 0,
                a, "bits outside objects or remote free of an unallocated slot")
            allocated += page.allocBits[i].nonzeroBitCount
            remote += page.remoteFree[i].nonzeroBitCount
            if coldStart {
                var w = page.allocBits[i]
                while w != 0 {
                    try check(
                        SegregatedHeapCore.coldStartClass(of: page, granule: i * 64 + w.trailingZeroBitCount) != nil,
                        a, "cold-start page bit without an object start")
                    w &= w &- 1
                }
            }
        }
        try check(allocated == Int(f.pointee.allocatedCount), a, "allocated count")
        try check(remote == Int(f.pointee.remoteFreeCount), a, "remote free count")
        try check((f.pointee.decommitted == 0) || state == PageHeader.empty, a, "decommitted page not empty")
        if f.pointee.decommitted == 1 { decommitted += 1 }
        if f.pointee.decommitted == PageHeader.decommitting { decommitting += 1 }
        try check(f.pointee.decommitted <= PageHeader.decommitting, a, "decommitted flag")
        // The lock word: the heap lock for empty and cold-start pages; the class's directory
        // lock for full and eligible ones; for owned ones that or a thread lock.
        let named = UnsafeMutablePointer<FutexLock>(bitPattern: page.lockWord.pointee.load(ordering: .relaxed))
        if state == PageHeader.empty || coldStart {
            try check(named == core.pointee.heapLock, a, "lock word of an empty or cold-start page")
        } else if state == PageHeader.owned {
            try check(
                named == SegregatedHeapCore.directoryLock(core, c) || named.map(registry.isThreadLock) == true, a,
                "lock word of an owned page")
        } else {
            try check(named == SegregatedHeapCore.directoryLock(core, c), a, "lock word of an unowned page")
        }
        if state == PageHeader.owned {
            try check(f.pointee.owner != PageHeader.unowned, a, "owned page without owner")
            try check(coldStart ? a == core.pointee.coldStartPage : allocated == objects, a, "owned page")
            if let cache, f.pointee.owner == UInt(bitPattern: cache) {
                if !coldStart {
                    let la = ThreadCache.allocator(cache, slot: allocatorBase + c)
                    var p = la.pointee.page
                    var found = false
                    for _ in 0 ..< Int(la.pointee.ringCount) where !found {
                        found = p == a
                        p = PageRef(p, layout).fields.pointee.next
                    }
                    try check(found, a, "owned page not in its allocator's ring")
                }
                for i in 0 ..< Int(f.pointee.wordCount) {
                    try check(
                        page.ownerFree[i] & ~page.allocBits[i] == 0
                            && page.ownerFree[i] & page.remoteFree[i] == 0, a, "owner pool")
                }
            }
        } else {
            try check(f.pointee.owner == PageHeader.unowned && remote == 0, a, "unowned page with owner state")
            for i in 0 ..< Int(f.pointee.wordCount) { try check(page.ownerFree[i] == 0, a, "unowned page with a pool") }
            let expected =
                allocated == 0
                ? PageHeader.empty
                : coldStart ? PageHeader.coldStart : allocated < objects ? PageHeader.eligible : PageHeader.full
            try check(state == expected, a, "state does not match count")
        }
    }

    private func check(_ condition: Bool, _ address: UInt, _ reason: @autoclosure () -> String) throws(PasError) {
        if !condition { throw .corrupted(.verify, address: address, reason: reason()) }
    }
}
