/// A thread's allocator for one size class of one heap: 64 bytes inside its thread cache.
///
/// It owns a ring of up to `SegregatedHeapCore.ringCapacity(_:layout:)` pages of its class
/// (`ringCount` of them, linked through the pages' `prev`/`next` while owned) and allocates from
/// the current one (`page`, a header address). `word` holds the free slots of the current 64-slot
/// window of that page, `base` the address of the window's slot 0. Allocation pops the lowest set
/// bit: `base + ctz(word) * objectSize`. Frees by this thread into any page of the ring are local;
/// the first such free into a ring page other than the current one appends that page to the
/// allocator's ready queue (`readyHead`). When `word` runs dry the slow path takes the next
/// non-empty owner-free word of the current page, else the oldest page of the ready queue (O(1):
/// it never visits a ring page without free slots), else merges remote frees (which also queue
/// pages), else adds a page (giving one back to the heap when the ring is full). During cold
/// start `page` may instead be the heap's cold-start page (then `ringCount` is 0).
///
/// Zero-filled memory is a valid empty allocator (`word == 0` sends every call to the slow
/// path), so a fresh thread cache needs no initialisation. Only the owning thread touches it,
/// except at thread exit when the exiting thread itself returns its pages.
@usableFromInline
struct LocalAllocator {
    @usableFromInline var word: UInt64
    @usableFromInline var base: UInt
    @usableFromInline var objectSize: UInt32
    /// Odd while the owner refills the window without the lock (`takeOwnerFreeWord`); lets
    /// another thread read `base` and `word` consistently (a sequence lock, owner-written).
    @usableFromInline var sequence: UInt32
    @usableFromInline var page: UInt
    /// Pages in the ring (owned by this allocator), 0 if none.
    @usableFromInline var ringCount: UInt32
    /// Pages the ring may hold beyond `SegregatedHeapCore.ringCapacity(layout)`; grows (never shrinks)
    /// while this thread frees its own objects into pages it gave back. Written by the owner,
    /// while it applies its log (`SegregatedHeapCore.noteSelfFree`).
    @usableFromInline var ringGrowth: UInt16
    /// Such frees since the ring last grew.
    @usableFromInline var selfFrees: UInt16
    /// The heap's `ownedPageRemoteFrees` when this allocator last took in its ring's remote
    /// frees (owner only): while the two are equal the slow path does not walk the ring for
    /// them (`SegregatedHeapCore.mergeRemoteInRing`). Freers add to the heap's count once per
    /// run of frees, so a free can wait for the owner's next walk; it is never lost (its bit
    /// is read under the page's lock, and a page given back takes its remote frees in).
    @usableFromInline var remoteFreesSeen: Int
    /// The ready queue: ring pages other than the current one that received frees since they
    /// last stopped being current, oldest first (header addresses, 0 if none), linked through
    /// the pages' `readyNext`. Owner only. Every queued page has free slots in its owner pool;
    /// taking the oldest first gives each page the longest time to gather frees, so one refill
    /// takes many slots.
    @usableFromInline var readyHead: UInt
    @usableFromInline var readyTail: UInt

    @usableFromInline static let stride = 64
    @usableFromInline static let strideShift = 6
}

extension LocalAllocator {
    /// The allocation fast path: pops the lowest free slot of the calling thread's allocator
    /// at byte `offset` of its thread cache (`ThreadCache.allocatorsOffset` plus the slot times
    /// `stride`), or returns nil if the thread has no cache yet or the allocator's window is
    /// empty (the caller then takes its slow path). Cost: one thread-local load, one load of
    /// the window and, when it is not empty, a count-trailing-zeros, a multiply and one store;
    /// no lock, no atomic, no call. Only the calling thread touches its allocator.
    @inlinable @inline(__always)
    static func popCallingThread(offset: Int) -> UnsafeMutableRawPointer? {
        guard let cache = ThreadCache.current else { return nil }
        // Invariant: the thread cache maps every allocator slot, so `offset` (a slot the
        // caller's heap owns) lies inside it.
        let la = cache.advanced(by: offset).assumingMemoryBound(to: LocalAllocator.self)
        let word = la.pointee.word
        guard word != 0 else { return nil }
        la.pointee.word = word & (word &- 1)
        // Invariant: a non-zero window lies inside a live page, so the address is non-zero.
        return UnsafeMutableRawPointer(
            bitPattern: la.pointee.base &+ UInt(truncatingIfNeeded: word.trailingZeroBitCount) &* UInt(la.pointee.objectSize)
        ).unsafelyUnwrapped
    }
}

extension LocalAllocator {
    /// Owner only: appends owned ring page `page` (header address; not current, `queued` 0) to
    /// the ready queue and sets its `queued`.
    @inlinable @inline(__always)
    static func enqueueReady(_ la: UnsafeMutablePointer<LocalAllocator>, page: UnsafeMutablePointer<PageHeader>) {
        page.pointee.queued = 1
        PageHeader.setReadyNext(page, 0)
        let address = UInt(bitPattern: page)
        let tail = la.pointee.readyTail
        if tail != 0 {
            PageHeader.setReadyNext(UnsafeMutablePointer(bitPattern: tail).unsafelyUnwrapped, address)
        } else {
            la.pointee.readyHead = address
        }
        la.pointee.readyTail = address
    }

    /// Owner only: removes and returns the oldest page of the ready queue (its `queued` stays
    /// set), or 0 if the queue is empty.
    @inlinable @inline(__always)
    static func dequeueReady(_ la: UnsafeMutablePointer<LocalAllocator>) -> UInt {
        let head = la.pointee.readyHead
        guard head != 0 else { return 0 }
        let next = PageHeader.readyNext(UnsafeMutablePointer(bitPattern: head).unsafelyUnwrapped)
        la.pointee.readyHead = next
        if next == 0 { la.pointee.readyTail = 0 }
        return head
    }
}
