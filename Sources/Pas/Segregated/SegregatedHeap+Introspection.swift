import PasSystem

/// Statistics, verification and returning empty pages.
extension SegregatedHeap {
    /// A consistent snapshot of the heap's pages and counters, after applying the calling
    /// thread's deallocation log. Cost: O(pages) with the heap's directory locks and heap lock
    /// held (`HeapRegistry.lockDirectories`), and each page that names a thread lock under that
    /// lock too (`withPageLocked`; the pass starts over when one is busy). Thread-safe.
    public var statistics: SegregatedHeapStatistics {
        let cache = ThreadCache.current
        if let cache { ThreadCache.flushLog(cache) }
        while true {
            registry.lockDirectories(heap: heapIndex)
            let s = statisticsPass(cache: cache)
            registry.unlockDirectories(heap: heapIndex)
            if let s { return s }
            SystemThread.yield()
        }
    }

    /// One try at `statistics`, with the directory and heap locks held; nil if a thread lock
    /// was busy.
    private func statisticsPass(cache: UnsafeMutableRawPointer?) -> SegregatedHeapStatistics? {
        var s = SegregatedHeapStatistics()
        let c = core.pointee
        s.chunkCount = c.chunkCount
        s.pageSize = c.layout.pageSize
        s.ownedPages = SegregatedHeapCore.counter(core, Int(PageHeader.owned))
        s.fullPages = SegregatedHeapCore.counter(core, Int(PageHeader.full))
        s.eligiblePages = SegregatedHeapCore.counter(core, Int(PageHeader.eligible))
        s.emptyPages = SegregatedHeapCore.counter(core, Int(PageHeader.empty))
        s.coldStartPages = SegregatedHeapCore.counter(core, Int(PageHeader.coldStart))
        s.decommittedPages = c.decommittedPages
        s.freshPages = SegregatedHeapCore.hasFreshPage(core) ? c.layout.pagesPerChunk - c.freshNext : 0
        s.remoteFrees = SegregatedHeapCore.counter(core, CoreCounter.remoteFrees)
        s.lateDoubleFrees = SegregatedHeapCore.counter(core, CoreCounter.lateDoubleFrees)
        var busy = false
        forEachFormattedPage { page in
            guard !busy else { return }
            busy = !withPageLocked(page) {
                let f = page.fields
                // Objects cached by the calling thread (its pool and windows) are not in use; those
                // other threads cache cannot be seen without racing them and are counted.
                let mine = cache.map { f.pointee.owner == UInt(bitPattern: $0) } ?? false
                var objects = 0
                var bytes = 0
                for i in 0 ..< Int(f.pointee.wordCount) {
                    var live = page.allocBits[i] & ~page.remoteFree[i]
                    if mine { live &= ~page.ownerFree[i] }
                    objects += live.nonzeroBitCount
                    if page.isColdStart {
                        while live != 0 {
                            if let c = SegregatedHeapCore.coldStartClass(of: page, granule: i * 64 + live.trailingZeroBitCount) {
                                bytes += size(ofClass: c)
                            }
                            live &= live &- 1
                        }
                    }
                }
                if !page.isColdStart { bytes = objects * Int(f.pointee.objectSize) }
                if mine, let cache {
                    for c in 0 ..< classCount {
                        let la = ThreadCache.allocator(cache, slot: allocatorBase + c)
                        guard la.pointee.page == page.address else { continue }
                        let n = la.pointee.word.nonzeroBitCount
                        objects -= n
                        bytes -= n * Int(la.pointee.objectSize)
                    }
                }
                s.objectsInUse += objects
                s.bytesInUse += bytes
            }
        }
        return busy ? nil : s
    }

    /// With `HeapRegistry.lockDirectories` held (for `verify` and `statistics`): runs `body`
    /// with `page`'s lock held too. A page that names a thread lock is taken with a try-lock
    /// (the thread lock comes first in the lock order, and its holder may be waiting for a lock
    /// the caller holds); returns false without running `body` if it is busy, and the caller
    /// starts over after releasing its locks. The page's lock word cannot change meanwhile:
    /// changing it takes a directory lock, which the caller holds.
    func withPageLocked<E: Error>(_ page: PageRef, _ body: () throws(E) -> Void) throws(E) -> Bool {
        let named = UnsafeMutablePointer<FutexLock>(bitPattern: page.lockWord.pointee.load(ordering: .acquiring))
        guard let named, registry.isThreadLock(named) else {
            try body()
            return true
        }
        guard named.pointee.tryLock() else { return false }
        defer { named.pointee.unlock() }
        try body()
        return true
    }

    /// Reports the committed empty pages (each keeps the time it became empty), counting as
    /// idle those empty for at least `olderThan`, for a scavenger deciding when to call
    /// `decommitEmptyPages(olderThan:)`. Cost: O(empty pages) under the heap lock. Thread-safe.
    public func emptyPageReport(olderThan age: Duration = .zero) -> EmptyPageReport {
        let idle = age.clampedNanoseconds
        registry.lock(heap: heapIndex)
        defer { registry.unlock(heap: heapIndex) }
        var cached: UInt64? = nil
        let now = SegregatedHeapCore.now(core, &cached)
        var report = EmptyPageReport()
        var p = core.pointee.emptyHead
        // Committed pages come first in the empty list.
        while p != 0 {
            let f = PageRef(p, Config.layout).fields
            guard f.pointee.decommitted == 0 else { break }
            let since = f.pointee.emptySince
            report.committedEmptyPages += 1
            if now &- since >= idle { report.idleEmptyPages += 1 }
            report.oldestEmptySince = min(report.oldestEmptySince ?? since, since)
            p = f.pointee.next
        }
        return report
    }

    /// This heap's first allocator slot in a thread cache.
    var allocatorBase: Int { (allocatorOffset - ThreadCache.allocatorsOffset) / LocalAllocator.stride }

    /// Calls `body` with every page that was ever formatted, in address order per chunk.
    /// Caller holds the heap lock (for the chunk list); `body` may read a page's fields only
    /// under the lock the page names (see `withPageLocked`).
    func forEachFormattedPage<E: Error>(_ body: (PageRef) throws(E) -> Void) throws(E) {
        let layout = Config.layout
        var chunk = core.pointee.firstChunk
        while chunk != 0 {
            let end = chunk == core.pointee.freshChunk ? core.pointee.freshNext : layout.pagesPerChunk
            for i in layout.metaPages ..< end { try body(PageRef(layout.header(chunk: chunk, page: i), layout)) }
            chunk = SegregatedHeapCore.nextChunk(after: chunk)
        }
    }

    /// Gives the memory of pages that have been empty for at least `olderThan` by the heap's
    /// time source (`.zero`: every empty page) back to the chunk source (`decommit`), in runs of
    /// adjacent pages. Such pages stay this heap's; the next allocation that reuses one commits
    /// it again. Returns the bytes decommitted. Cost: O(pages) under the heap lock to choose, one
    /// decommit call per run with no lock held, and O(chosen pages) under the heap lock to record
    /// (`DecommitPass`). Throws the chunk source's error; pages decommitted before it stay so.
    /// Thread-safe.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        var cached: UInt64? = nil
        let now = SegregatedHeapCore.now(core, &cached)
        let idle = age.clampedNanoseconds
        guard now >= idle else { return 0 }
        return try decommitEmptyPages(emptiedBy: now - idle)
    }

    /// The decommit pass (`DecommitPass`) over the empty pages that became empty at `deadline`
    /// or earlier, in the heap's time.
    ///
    /// Protocol (under the heap's decommit lock, so one pass at a time):
    /// 1. Choose, under the heap lock: each committed empty page old enough (while the plan has
    ///    room) leaves the empty list and becomes *decommitting* (`decommitted == 2`); nothing
    ///    else can reach it (it has no live object, and allocation takes blank pages only from
    ///    the list). The earliest empty time of the committed empty pages left is published.
    /// 2. The decommit calls, with no lock: frees and allocations meanwhile take the page locks,
    ///    and the heap lock for other blank pages.
    /// 3. Record, under the heap lock: pages of decommitted runs join the empty list's tail as
    ///    decommitted; the others its head as committed, keeping their empty time.
    /// An allocation that needs a blank page while only decommitting ones are left waits for the
    /// decommit lock (`takePage`).
    func decommitEmptyPages(emptiedBy deadline: UInt64) throws(PasError) -> Int {
        let decommitLock = core.pointee.decommitLock
        decommitLock.pointee.lock()
        defer { decommitLock.pointee.unlock() }
        if plan == nil { plan = try DecommitPlan.allocate() }
        let layout = Config.layout
        let heapLock = core.pointee.heapLock
        // Invariant: the plan is used only under the decommit lock.
        let (bytes, failure) = DecommitPass.run(
            &plan!,
            choose: { plan in
                heapLock.pointee.lock()
                var remaining = UInt64.max
                forEachFormattedPage { page in
                    // Only a page that names the heap lock (held) may be read here; every empty page does.
                    guard PageLock.names(page, heapLock) else { return }
                    let f = page.fields
                    guard f.pointee.state == PageHeader.empty, f.pointee.decommitted == 0 else { return }
                    let since = f.pointee.emptySince
                    if since <= deadline, plan.add(start: page.pageStart, byteCount: layout.pageSize, stamp: since) {
                        SegregatedHeapCore.unlink(core, page)
                        f.pointee.decommitted = PageHeader.decommitting
                        core.pointee.decommittingPages += 1
                    } else {
                        remaining = min(remaining, since)
                    }
                }
                emptySignal.publish(remaining)
                heapLock.pointee.unlock()
            },
            decommit: { (range) throws(PasError) in try chunks.decommit(range) },
            record: { plan, failedFrom in
                heapLock.pointee.lock()
                var restoredEarliest = UInt64.max
                for r in 0 ..< plan.count {
                    let run = plan.runs[r]
                    var address = run.start
                    while address < run.end {
                        let page = PageRef(layout.header(containing: address), layout)
                        let f = page.fields
                        core.pointee.decommittingPages -= 1
                        if r < failedFrom {
                            f.pointee.decommitted = 1
                            core.pointee.decommittedPages += 1
                            SegregatedHeapCore.pushEmpty(core, page, atTail: true)
                        } else {
                            f.pointee.decommitted = 0
                            restoredEarliest = min(restoredEarliest, f.pointee.emptySince)
                            SegregatedHeapCore.pushEmpty(core, page, atTail: false)
                        }
                        address &+= UInt(layout.pageSize)
                    }
                }
                emptySignal.lower(to: restoredEarliest)
                heapLock.pointee.unlock()
            })
        emptySignal.wakeIfPending()
        if let failure { throw failure }
        return bytes
    }
}
