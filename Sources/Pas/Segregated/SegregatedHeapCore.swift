import PasSystem
import Synchronization

/// Reads a heap's clock from type-erased code (log flushes). Context: an unretained `ClockBox`.
typealias ClockRead = @convention(c) (UnsafeMutableRawPointer?) -> UInt64

/// Holds a heap's time source for `ClockRead`.
final class ClockBox {
    let source: any TimeSource
    init(_ source: any TimeSource) { self.source = source }
}

/// The non-generic metadata of one segregated heap, in raw memory the heap maps at creation.
///
/// Holds the size-class table, the per-class eligible lists, the heap's empty list, the chunk
/// list and counters. Locks (all in the `HeapRegistry`; see its lock order): each class's
/// eligible list is protected by that class's directory lock (`directoryLocks[c]`); the empty
/// list, chunks, fresh pages, cold-start state and decommit counts by the heap lock
/// (`heapLock`); the counters updated under several locks are relaxed atomics (`counters`); the
/// class tables are read-only, and the fast paths read them without a lock. Pages are protected
/// by the lock each names (`PageLock`).
/// Page operations that thread caches run after type erasure (log flush, thread exit) live here
/// and use the runtime `layout`; the generic heap's fast paths use the same layout as constants.
@usableFromInline
struct SegregatedHeapCore {
    var layout: PageLayout
    var heapIndex: Int
    /// The heap's first local-allocator slot in every thread cache.
    var allocatorBase: Int
    var classCount: Int
    /// Requests up to this size are served. Read-only.
    var sizeLimit: Int
    /// Object size of each class. Read-only.
    var classSize: UnsafeMutablePointer<UInt32>
    /// `(size - 1) >> 4` -> class, for sizes 1 ... sizeLimit. Read-only.
    var sizeTable: UnsafeMutablePointer<UInt8>
    /// Head of each class's eligible list (page header address, 0 = empty); directory lock.
    var eligibleHead: UnsafeMutablePointer<UInt>
    /// The heap lock and the first of the heap's directory locks (one per class).
    var heapLock: UnsafeMutablePointer<FutexLock>
    /// Held by a decommit pass from choosing to recording (`decommitEmptyPages(emptiedBy:)`);
    /// taken before the heap lock and never with a thread or directory lock.
    var decommitLock: UnsafeMutablePointer<FutexLock>
    var directoryLocks: UnsafeMutablePointer<FutexLock>
    /// `CoreCounter.count` relaxed atomic counters: pages in each `PageHeader` state (indices
    /// 0 ..< `PageHeader.stateCount`), then those `CoreCounter` names.
    var counters: UnsafeMutablePointer<Atomic<Int>>
    /// The empty list: committed pages at the head, decommitted pages at the tail.
    var emptyHead: UInt
    var emptyTail: UInt
    /// Chunks, linked through their chunk headers.
    var firstChunk: UInt
    var chunkCount: Int
    /// The chunk that still has never-used pages, and the next such page's index.
    var freshChunk: UInt
    var freshNext: Int
    var decommittedPages: Int
    /// Empty pages a decommit pass has taken out of the empty list and not recorded yet
    /// (`PageHeader.decommitting`). Heap lock.
    var decommittingPages: Int = 0
    /// The cold-start page objects of several classes are carved from (0 = none), and the
    /// bytes each class has carved from cold-start pages so far; a class carves while under
    /// `coldStartBudget` bytes (0 disables cold start).
    var coldStartPage: UInt
    var coldStartBytes: UnsafeMutablePointer<Int>
    var coldStartBudget: Int
    var clockRead: ClockRead
    var clockContext: UnsafeMutableRawPointer?
    var region: MemoryRange
    /// Called (under the heap lock) when a page becomes empty, with the time; the heap's
    /// page-sharing hook. Nil when the heap is in no pool.
    var emptyNotify: (@convention(c) (UnsafeMutableRawPointer?, UInt64) -> Void)? = nil
    var emptyNotifyContext: UnsafeMutableRawPointer? = nil

    /// "PASSEGCK": first word of every chunk of a segregated heap.
    static let chunkMagic: UInt64 = 0x5041_5353_4547_434B

    /// Maps and fills the metadata of a heap that serves `classes` (object sizes, ascending,
    /// multiples of 16) for requests up to `sizeLimit`.
    static func create(
        layout: PageLayout, heapIndex: Int, allocatorBase: Int, classSizes: [Int], sizeLimit: Int,
        heapLock: UnsafeMutablePointer<FutexLock>, directoryLocks: UnsafeMutablePointer<FutexLock>,
        decommitLock: UnsafeMutablePointer<FutexLock>,
        coldStartBudget: Int,
        clockRead: @escaping ClockRead, clockContext: UnsafeMutableRawPointer?
    ) throws(PasError)
        -> UnsafeMutablePointer<SegregatedHeapCore>
    {
        let classes = classSizes.count
        let tableEntries = (sizeLimit + 15) >> 4
        var offset = (MemoryLayout<SegregatedHeapCore>.size + 63) & ~63
        let sizeOffset = offset; offset += classes * 4
        offset = (offset + 7) & ~7
        let eligibleOffset = offset; offset += classes * 8
        let counterOffset = offset; offset += CoreCounter.count * MemoryLayout<Atomic<Int>>.stride
        let coldStartOffset = offset; offset += classes * 8
        let tableOffset = offset; offset += tableEntries
        let range = try MetadataPages.allocate(byteCount: offset)
        // Invariant: the mapping lives until `destroy`; it is zero-filled.
        let base = range.pointer
        let core = base.bindMemory(to: SegregatedHeapCore.self, capacity: 1)
        let sizes = (base + sizeOffset).bindMemory(to: UInt32.self, capacity: classes)
        for c in 0 ..< classes { sizes[c] = UInt32(classSizes[c]) }
        let table = (base + tableOffset).bindMemory(to: UInt8.self, capacity: tableEntries)
        let counters = (base + counterOffset).bindMemory(to: Atomic<Int>.self, capacity: CoreCounter.count)
        for k in 0 ..< CoreCounter.count { (counters + k).initialize(to: Atomic(0)) }
        var c = 0
        for i in 0 ..< tableEntries {
            let size = (i + 1) << 4
            while c < classes - 1 && classSizes[c] < size { c += 1 }
            table[i] = UInt8(c)
        }
        core.initialize(
            to: SegregatedHeapCore(
                layout: layout, heapIndex: heapIndex, allocatorBase: allocatorBase, classCount: classes, sizeLimit: sizeLimit,
                classSize: sizes, sizeTable: table,
                eligibleHead: (base + eligibleOffset).bindMemory(to: UInt.self, capacity: classes),
                heapLock: heapLock, decommitLock: decommitLock, directoryLocks: directoryLocks, counters: counters,
                emptyHead: 0, emptyTail: 0, firstChunk: 0, chunkCount: 0, freshChunk: 0, freshNext: 0,
                decommittedPages: 0,
                coldStartPage: 0,
                coldStartBytes: (base + coldStartOffset).bindMemory(to: Int.self, capacity: classes),
                coldStartBudget: coldStartBudget,
                clockRead: clockRead, clockContext: clockContext, region: range))
        return core
    }

    static func destroy(_ core: UnsafeMutablePointer<SegregatedHeapCore>) {
        let region = core.pointee.region
        core.pointee.counters.deinitialize(count: CoreCounter.count)
        core.deinitialize(count: 1)
        try? VirtualMemory.release(region)
    }

    /// Adds `delta` to counter `k` (see `CoreCounter`). Relaxed: counts are read as snapshots, or
    /// exactly under `HeapRegistry.lockAll`.
    @inline(__always)
    static func count(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ k: Int, _ delta: Int) {
        if delta != 0 { core.pointee.counters[k].wrappingAdd(delta, ordering: .relaxed) }
    }

    /// Counter `k`'s value.
    @inline(__always)
    static func counter(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ k: Int) -> Int {
        core.pointee.counters[k].load(ordering: .relaxed)
    }

    /// The directory lock of class `classIndex`.
    @inline(__always)
    static func directoryLock(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ classIndex: Int) -> UnsafeMutablePointer<
        FutexLock
    > {
        core.pointee.directoryLocks + classIndex
    }

    static func now(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ cached: inout UInt64?) -> UInt64 {
        if let t = cached { return t }
        let t = core.pointee.clockRead(core.pointee.clockContext)
        cached = t
        return t
    }

    // MARK: chunks and fresh pages

    /// Adds a freshly allocated (zeroed) chunk; its payload pages become the fresh pages, each
    /// naming the heap lock. Caller holds the heap lock.
    static func addChunk(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ chunk: MemoryRange) {
        let layout = core.pointee.layout
        let start = chunk.start
        let words = UnsafeMutablePointer<UInt64>(bitPattern: start).unsafelyUnwrapped
        words[0] = chunkMagic
        words[1] = UInt64(core.pointee.heapIndex)
        words[2] = UInt64(core.pointee.firstChunk)
        for i in layout.metaPages ..< layout.pagesPerChunk {
            let h = layout.header(chunk: start, page: i)
            UnsafeMutableRawPointer(bitPattern: h).unsafelyUnwrapped.bindMemory(to: PageHeader.self, capacity: 1)
            UnsafeMutableRawPointer(bitPattern: h + UInt(MemoryLayout<PageHeader>.size)).unsafelyUnwrapped
                .bindMemory(to: Atomic<UInt>.self, capacity: 1)
                .initialize(to: Atomic(UInt(bitPattern: core.pointee.heapLock)))
            UnsafeMutableRawPointer(bitPattern: h + UInt(layout.allocBitsOffset)).unsafelyUnwrapped
                .bindMemory(to: UInt64.self, capacity: 3 * layout.bitmapWords)
        }
        core.pointee.firstChunk = start
        core.pointee.chunkCount += 1
        core.pointee.freshChunk = start
        core.pointee.freshNext = layout.metaPages
    }

    /// The next chunk after `chunk` in the heap's chunk list (0 at the end).
    static func nextChunk(after chunk: UInt) -> UInt {
        UInt(UnsafeMutablePointer<UInt64>(bitPattern: chunk).unsafelyUnwrapped[2])
    }

    /// True if `address` lies in a payload page of one of the heap's chunks. Cost: O(chunks).
    static func owns(_ core: UnsafeMutablePointer<SegregatedHeapCore>, address: UInt) -> Bool {
        let layout = core.pointee.layout
        let chunk = address & ~layout.chunkMask
        var c = core.pointee.firstChunk
        while c != 0 {
            if c == chunk { return (address & layout.chunkMask) >> UInt(layout.pageShift) >= UInt(layout.metaPages) }
            c = nextChunk(after: c)
        }
        return false
    }

    static func hasFreshPage(_ core: UnsafeMutablePointer<SegregatedHeapCore>) -> Bool {
        core.pointee.freshChunk != 0 && core.pointee.freshNext < core.pointee.layout.pagesPerChunk
    }

    /// Takes a never-used page (caller checked `hasFreshPage`), in state `full` and unformatted
    /// (state `fresh` until the caller formats it; counted as full). Caller holds the heap lock,
    /// which the page names.
    static func takeFreshPage(_ core: UnsafeMutablePointer<SegregatedHeapCore>) -> PageRef {
        let layout = core.pointee.layout
        let h = layout.header(chunk: core.pointee.freshChunk, page: core.pointee.freshNext)
        core.pointee.freshNext += 1
        let page = PageRef(h, layout)
        count(core, Int(PageHeader.full), 1)
        page.fields.pointee.state = PageHeader.full
        page.fields.pointee.classIndex = PageHeader.coldStartClassIndex - 1
        return page
    }

    /// Sets the page up for objects of `classIndex`; all bits clear. The page is in no list.
    /// Caller holds the lock the page names (the heap lock: the page is blank).
    static func format(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, classIndex: Int) {
        let f = page.fields
        let oldWords = Int(f.pointee.wordCount)
        for i in 0 ..< oldWords { page.allocBits[i] = 0; page.ownerFree[i] = 0; page.remoteFree[i] = 0 }
        let size = Int(core.pointee.classSize[classIndex])
        let objects = core.pointee.layout.pageSize / size
        f.pointee.owner = PageHeader.unowned
        let reciprocal = ((UInt64(1) << 32) + UInt64(size) - 1) / UInt64(size)
        // Invariant (see `PageHeader.exactLimit`): pages of at most 2^17 bytes, objects of at
        // most pageSize / 8, so reciprocal >= 2^18 > pageSize and k < size.
        assert(core.pointee.layout.pageSize <= 1 << 17 && size <= core.pointee.layout.pageSize / 8)
        let k = reciprocal &* UInt64(size) &- (UInt64(1) << 32)
        f.pointee.reciprocal = UInt32(reciprocal)
        f.pointee.exactLimit = k == 0 ? 1 : UInt32(UInt64(objects) &* k)
        f.pointee.objectSize = UInt32(size)
        f.pointee.objectsPerPage = UInt32(objects)
        f.pointee.classIndex = UInt16(classIndex)
        f.pointee.wordCount = UInt16((objects + 63) / 64)
        f.pointee.bumpGranule = 0
        f.pointee.allocatedCount = 0
        f.pointee.remoteFreeCount = 0
        f.pointee.queued = 0
    }

    // MARK: lists

    /// Moves `page` to `state`, unlinking it from its old list and linking it into the new one.
    /// Caller holds the page's lock and the locks of both lists: the class's directory lock for
    /// the eligible list, the heap lock for the empty list.
    static func setState(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, _ state: UInt8, now: UInt64 = 0) {
        let f = page.fields
        let old = f.pointee.state
        if old == state { return }
        if old == PageHeader.eligible || old == PageHeader.empty { unlink(core, page) }
        count(core, Int(old), -1)
        count(core, Int(state), 1)
        f.pointee.state = state
        if state == PageHeader.eligible {
            let c = Int(f.pointee.classIndex)
            let head = core.pointee.eligibleHead[c]
            f.pointee.prev = 0
            f.pointee.next = head
            if head != 0 { PageRef(head, page.layout).fields.pointee.prev = page.address }
            core.pointee.eligibleHead[c] = page.address
        } else if state == PageHeader.empty {
            f.pointee.emptySince = now
            pushEmpty(core, page, atTail: f.pointee.decommitted != 0)
            if f.pointee.decommitted == 0, let notify = core.pointee.emptyNotify { notify(core.pointee.emptyNotifyContext, now) }
        }
    }

    static func pushEmpty(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef, atTail: Bool) {
        let f = page.fields
        if atTail {
            f.pointee.next = 0
            f.pointee.prev = core.pointee.emptyTail
            if core.pointee.emptyTail != 0 {
                PageRef(core.pointee.emptyTail, page.layout).fields.pointee.next = page.address
            } else {
                core.pointee.emptyHead = page.address
            }
            core.pointee.emptyTail = page.address
        } else {
            f.pointee.prev = 0
            f.pointee.next = core.pointee.emptyHead
            if core.pointee.emptyHead != 0 {
                PageRef(core.pointee.emptyHead, page.layout).fields.pointee.prev = page.address
            } else {
                core.pointee.emptyTail = page.address
            }
            core.pointee.emptyHead = page.address
        }
    }

    static func unlink(_ core: UnsafeMutablePointer<SegregatedHeapCore>, _ page: PageRef) {
        let f = page.fields
        let prev = f.pointee.prev, next = f.pointee.next
        let isEmpty = f.pointee.state == PageHeader.empty
        if prev != 0 {
            PageRef(prev, page.layout).fields.pointee.next = next
        } else if isEmpty {
            core.pointee.emptyHead = next
        } else {
            core.pointee.eligibleHead[Int(f.pointee.classIndex)] = next
        }
        if next != 0 { PageRef(next, page.layout).fields.pointee.prev = prev } else if isEmpty { core.pointee.emptyTail = prev }
        f.pointee.prev = 0
        f.pointee.next = 0
    }
}

/// Indices of `SegregatedHeapCore.counters` past the page-state counts.
enum CoreCounter {
    /// Frees found to be double frees only when a log was applied or remote frees were merged
    /// (counted, then ignored).
    static let lateDoubleFrees = PageHeader.stateCount
    /// Frees applied by threads that do not own the page.
    static let remoteFrees = PageHeader.stateCount + 1
    /// Remote frees recorded into pages a thread owns (their `remoteFree` bits), ever; a local
    /// allocator compares it with its `remoteFreesSeen` to skip a fruitless ring walk. Added to
    /// once per run of frees (`RemoteFreeTally`), so an owner may see a count before or after
    /// the bits behind it: a late count only delays a merge, since the bits are read under the
    /// page's lock.
    static let ownedPageRemoteFrees = PageHeader.stateCount + 2
    static let count = PageHeader.stateCount + 3
}
