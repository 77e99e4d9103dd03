import Synchronization

/// The fixed fields of a segregated page's header (64 bytes), followed in memory by three
/// bitmaps (see `PageLayout`). Lives in the chunk's metadata pages, never inside the page.
///
/// "The page lock" below is the lock the page's lock word names (see `PageLock`).
///
/// Bit meanings, per object slot:
/// - allocated (`allocBits`, protected by the page lock): the slot is live, or it belongs to the
///   thread that owns the page (when a thread takes a page every free slot is marked allocated
///   and handed to it, so frees from other threads never race with its allocation).
/// - owner-free (`ownerFree`): only the owning thread writes it, without a lock. Slots in the
///   owner's private pool; always a subset of allocated. (Other threads read it, under the page
///   lock, only to recognise double frees; see `SegregatedHeapCore.ownerHoldsFree`.)
/// - remote-free (`remoteFree`, page lock): slots freed by other threads while the page is
///   owned; the owner merges them into owner-free under the page lock when its pool runs dry.
///
/// States: `fresh` (never formatted), `owned` (a thread cache allocates from it), `full`,
/// `eligible` (has free slots; in its class's eligible list), `empty` (no live object; in the
/// heap's empty list, possibly decommitted), `coldStart` (a cold-start page that holds objects of
/// several classes and no thread carves from any more; see `SegregatedHeapCore+ColdStart`).
///
/// A cold-start page (`classIndex == PageHeader.coldStartClassIndex`) is formatted with 16-byte slots
/// ("granules"): its bitmaps have one bit per granule, set at object starts, and its first
/// `pageSize / 256` granules hold a class map (one byte per granule: class + 1 at an object start,
/// `PageHeader.interiorGranule` inside an object, 0 where nothing was carved).
@usableFromInline
struct PageHeader {
    /// The owning thread cache's address, or `PageHeader.unowned`. Written under the page lock;
    /// read without a lock only to compare with the reader's own thread cache (only a thread can
    /// make itself the owner, and only the owner's own thread gives the page back, so that
    /// comparison is exact; see `segregatedIsOwner` for why ThreadSanitizer still reports it).
    @usableFromInline var owner: UInt
    /// ceil(2^32 / objectSize): slot index = (offset * reciprocal) >> 32, exact for offsets < 2^32.
    @usableFromInline var reciprocal: UInt32
    /// The object-start test of the free fast path: `offset` (from the page start) is the start
    /// of one of the page's objects exactly when the low 32 bits of `offset * reciprocal` are
    /// below `exactLimit`. 0 on cold-start pages, whose frees all take the slow path.
    ///
    /// Why one compare suffices (page size at most 2^17, objects `d` at most pageSize / 8, so
    /// `reciprocal` >= 2^18): let `k = reciprocal * d - 2^32` (0 <= k < d) and
    /// `offset = q * d + r`. Then `offset * reciprocal = q * 2^32 + q * k + r * reciprocal`
    /// with no carry into the high half, so the low half is `q * k` for an object start
    /// (`r == 0`) and at least `reciprocal` > pageSize otherwise. `q * k` grows with `q`, so
    /// `exactLimit = objectsPerPage * k` also refuses the address just past the last object;
    /// when `k == 0` (d a power of two) every start has low half 0, the page has no tail, and
    /// `exactLimit` is 1. See `SegregatedHeapCore.format`.
    @usableFromInline var exactLimit: UInt32
    @usableFromInline var objectSize: UInt32
    @usableFromInline var objectsPerPage: UInt32
    @usableFromInline var classIndex: UInt16
    @usableFromInline var state: UInt8
    /// 1 if the page's memory was given back to the system, `PageHeader.decommitting` while a
    /// decommit pass gives it back (only in the empty state; heap lock).
    @usableFromInline var decommitted: UInt8
    /// Bitmap words in use: ceil(objectsPerPage / 64).
    @usableFromInline var wordCount: UInt16
    /// Cold-start pages only: the next granule the owner carves objects from.
    @usableFromInline var bumpGranule: UInt16
    /// Number of set allocated bits (page lock). Pages hold at most 8192 slots.
    @usableFromInline var allocatedCount: UInt16
    /// Number of set remote-free bits (page lock).
    @usableFromInline var remoteFreeCount: UInt16
    /// Owned pages, owner only: 1 while the page is its allocator's current page or waits in the
    /// allocator's ready queue (`LocalAllocator.readyHead`), else 0. The free fast path queues a
    /// page whose flag is 0 (`segregatedQueueReady`), so a refill finds a page with free slots in
    /// O(1) instead of walking the ring. 0 on unowned pages.
    @usableFromInline var queued: UInt8
    /// Padding: keeps `allocatorSlot` aligned and the fields at 64 bytes.
    @usableFromInline var spare: UInt8
    /// Owned pages: the owning allocator's slot in its thread cache (`ThreadCache.allocator`).
    @usableFromInline var allocatorSlot: UInt16
    /// Links of the eligible list (directory lock) or empty list (heap lock) the page is in, or of its owner's ring
    /// while owned (owner only); header addresses, 0 = none.
    @usableFromInline var prev: UInt
    @usableFromInline var next: UInt
    /// Empty pages: when the page last became empty (nanoseconds of the heap's time source).
    /// Full and eligible pages: `lastOwner`; owned pages: `readyNext`; both share this word.
    @usableFromInline var emptySince: UInt64

    /// Owned pages in their allocator's ready queue (owner only): the header address of the next
    /// (younger) page in the queue, 0 at the tail. Shares storage with `emptySince`.
    ///
    /// Static functions on the header's pointer rather than a computed property: assigning a
    /// computed property through `pointee` is, to ThreadSanitizer, a modifying access of the whole
    /// header, which the owner makes without the lock while other threads update the header's
    /// other fields under it; these touch only the `emptySince` word.
    @inlinable @inline(__always)
    static func readyNext(_ page: UnsafeMutablePointer<PageHeader>) -> UInt {
        UInt(truncatingIfNeeded: page.pointee.emptySince)
    }

    @inlinable @inline(__always)
    static func setReadyNext(_ page: UnsafeMutablePointer<PageHeader>, _ next: UInt) {
        page.pointee.emptySince = UInt64(truncatingIfNeeded: next)
    }

    /// Full and eligible pages (page lock): the thread cache that gave the page back, or 0.
    /// Lets a log flush tell a thread's frees of its own former objects (`SegregatedHeapCore.noteSelfFree`).
    /// Shares storage with `emptySince`; meaningless in other states.
    @inlinable var lastOwner: UInt {
        get { UInt(truncatingIfNeeded: emptySince) }
        set { emptySince = UInt64(truncatingIfNeeded: newValue) }
    }

    /// Owner value of a page that no thread owns. Never equal to a thread cache or to nil.
    @usableFromInline static let unowned: UInt = 1

    @usableFromInline static let fresh: UInt8 = 0
    @usableFromInline static let owned: UInt8 = 1
    @usableFromInline static let full: UInt8 = 2
    @usableFromInline static let eligible: UInt8 = 3
    @usableFromInline static let empty: UInt8 = 4
    @usableFromInline static let coldStart: UInt8 = 5

    /// `decommitted` of an empty page a decommit pass took out of the empty list.
    static let decommitting: UInt8 = 2
    @usableFromInline static let stateCount = 6

    /// `classIndex` of a cold-start page.
    @usableFromInline static let coldStartClassIndex: UInt16 = 0xFFFF
    /// Class-map byte of a granule inside (not at the start of) an object.
    @usableFromInline static let interiorGranule: UInt8 = 0xFF
}

/// A page header reached by address, with its bitmaps.
/// Invariant: `address` is the header of a page of a live chunk of the heap whose layout is
/// `layout`; all accesses other than the owner's are made under the page's lock (`PageLock`).
@usableFromInline
struct PageRef {
    @usableFromInline let address: UInt
    @usableFromInline let layout: PageLayout

    @inlinable @inline(__always)
    init(_ address: UInt, _ layout: PageLayout) {
        self.address = address
        self.layout = layout
    }

    @inlinable @inline(__always)
    var fields: UnsafeMutablePointer<PageHeader> {
        UnsafeMutablePointer(bitPattern: address).unsafelyUnwrapped
    }

    @inlinable @inline(__always)
    func bits(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutablePointer(bitPattern: address &+ UInt(offset)).unsafelyUnwrapped
    }

    /// The page's lock word: the address of the `FutexLock` that protects the page now (see
    /// `PageLock`). Right after the 64 bytes of `PageHeader`; bound by `SegregatedHeapCore.addChunk`.
    @inline(__always) var lockWord: UnsafeMutablePointer<Atomic<UInt>> {
        UnsafeMutablePointer(bitPattern: address &+ UInt(MemoryLayout<PageHeader>.size)).unsafelyUnwrapped
    }

    @inlinable @inline(__always) var allocBits: UnsafeMutablePointer<UInt64> { bits(layout.allocBitsOffset) }
    @inlinable @inline(__always) var ownerFree: UnsafeMutablePointer<UInt64> { bits(layout.ownerFreeOffset) }
    @inlinable @inline(__always) var remoteFree: UnsafeMutablePointer<UInt64> { bits(layout.remoteFreeOffset) }

    @inlinable @inline(__always) var pageStart: UInt { layout.pageStart(ofHeader: address) }

    /// True for a cold-start page, which holds objects of several classes.
    @inlinable @inline(__always)
    var isColdStart: Bool { fields.pointee.classIndex == PageHeader.coldStartClassIndex }

    /// A cold-start page's class map (one byte per granule) at the start of the page.
    @inlinable @inline(__always)
    var classMap: UnsafeMutablePointer<UInt8> { UnsafeMutablePointer(bitPattern: pageStart).unsafelyUnwrapped }

    /// Granules of a cold-start page taken by its class map.
    @inlinable @inline(__always)
    var mapGranules: Int { layout.pageSize >> 8 }

    /// True if `address` (inside this page) is the start of an object: on a page of one class,
    /// the fast path's multiply-compare (see `PageHeader.exactLimit`); on a cold-start page, a
    /// granule start whose class-map byte starts an object. Slow paths only.
    func isObjectStart(_ address: UInt) -> Bool {
        let offset = address & layout.pageMask
        let f = fields
        if f.pointee.classIndex == PageHeader.coldStartClassIndex {
            guard offset & UInt(SizeClasses.minAlign &- 1) == 0 else { return false }
            return SegregatedHeapCore.coldStartClass(of: self, granule: Int(offset &>> UInt(SizeClasses.minAlignShift))) != nil
        }
        let product = UInt64(offset) &* UInt64(f.pointee.reciprocal)
        return UInt32(truncatingIfNeeded: product) < f.pointee.exactLimit
    }

    /// True if the owner's pool holds a slot (some owner-free bit is set). O(words); slow paths.
    var hasOwnerFreeSlot: Bool {
        for i in 0 ..< Int(fields.pointee.wordCount) where ownerFree[i] != 0 { return true }
        return false
    }

    /// Bits of word `word` that correspond to real objects.
    @inlinable @inline(__always)
    func fullMask(word: Int) -> UInt64 {
        let objects = Int(fields.pointee.objectsPerPage)
        let remaining = objects &- word &* 64
        return remaining >= 64 ? ~0 : (UInt64(1) &<< UInt64(remaining)) &- 1
    }

    /// Slot index of an address inside the page (floor of offset / objectSize).
    @inlinable @inline(__always)
    func slot(of address: UInt) -> Int {
        let offset = UInt64(address & layout.pageMask)
        return Int(truncatingIfNeeded: (offset &* UInt64(fields.pointee.reciprocal)) &>> 32)
    }
}
