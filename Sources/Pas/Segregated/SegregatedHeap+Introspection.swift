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
    /// it again. Returns the bytes decommitted. Cost: O(pages) plus one decommit call per run,
    /// under the heap lock, which empty pages name (allocation takes it only for blank pages and
    /// cold start; frees only to empty a page). Throws the chunk source's error; pages
    /// decommitted before it stay so. Thread-safe.
    @discardableResult
    public func decommitEmptyPages(olderThan age: Duration = .zero) throws(PasError) -> Int {
        try decommitEmptyPages(idleNanoseconds: age.clampedNanoseconds)
    }

    /// `decommitEmptyPages(olderThan:)` for pages empty for at least `idle` nanoseconds.
    func decommitEmptyPages(idleNanoseconds idle: UInt64) throws(PasError) -> Int {
        registry.lock(heap: heapIndex)
        defer { registry.unlock(heap: heapIndex) }
        let layout = Config.layout
        var cached: UInt64? = nil
        let now = SegregatedHeapCore.now(core, &cached)
        var total = 0
        // The current run: `runCount` adjacent empty pages of one chunk starting at `runStart`.
        var runStart: PageRef? = nil
        var runCount = 0
        func flushRun() throws(PasError) {
            guard let first = runStart, runCount > 0 else { return }
            try chunks.decommit(MemoryRange(start: first.pageStart, byteCount: runCount * layout.pageSize))
            for k in 0 ..< runCount {
                let page = PageRef(first.address &+ (UInt(k) << UInt(layout.strideShift)), layout)
                SegregatedHeapCore.unlink(core, page)
                page.fields.pointee.decommitted = 1
                SegregatedHeapCore.pushEmpty(core, page, atTail: true)
            }
            core.pointee.decommittedPages += runCount
            total += runCount
            runStart = nil
            runCount = 0
        }
        let heapLock = core.pointee.heapLock
        try forEachFormattedPage { (page) throws(PasError) in
            let f = page.fields
            // Only a page that names the heap lock (held) may be read here; every empty page does.
            let candidate =
                PageLock.names(page, heapLock) && f.pointee.state == PageHeader.empty && f.pointee.decommitted == 0
                && now &- f.pointee.emptySince >= idle
            if candidate, let first = runStart,
                first.pageStart &+ UInt(runCount * layout.pageSize) != page.pageStart
            {
                try flushRun()
            }
            if candidate {
                if runStart == nil { runStart = page }
                runCount += 1
            } else {
                try flushRun()
            }
        }
        try flushRun()
        return total &* layout.pageSize
    }
}
