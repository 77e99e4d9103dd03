import PasSystem
import Synchronization

/// The lock of a segregated page: each page header names, in its lock word
/// (`PageRef.lockWord`), the lock that currently protects its header and bitmaps (all but the
/// owner's private fields, see `PageHeader`). Which lock that is follows the page's state:
///
/// - owned by a thread cache: that cache's thread lock (the page is *biased* to its owner), or,
///   after contention or when the cache has no thread lock, its class's directory lock;
/// - full or eligible (unowned): its class's directory lock;
/// - empty, fresh, or a cold-start page: its heap's lock.
///
/// Protocol ("lock dancing"): to lock a page, read its lock word, take that lock, and read the
/// word again; if it changed meanwhile, release and retry. The word changes only while the
/// thread changing it holds both the old and the new lock (`retarget`), so a thread that holds
/// the lock the word names holds the page. Code that walks many pages keeps the lock it holds
/// and switches only when the next page names another (`lock(_:holding:)`), so a log flush of
/// frees into one owner's pages takes one lock for the whole run. A contended thread lock makes
/// the freer move the page to its directory's lock (`unbias`), so a thread's own refills stop
/// waiting behind other threads' frees into its other pages.
///
/// Lock order: thread lock, then directory lock, then heap lock (see `HeapRegistry`). A page
/// lock taken with `lock(_:holding:)` is the only lock of kinds 1 and 2 the caller holds.
enum PageLock {
    /// Takes the lock `page` names, releasing `held` first unless it is that lock; on return
    /// `held` is the page's lock and the caller holds it. Returns true if the lock was contended
    /// (a try-lock failed). Precondition: the caller holds no lock but `held` (of those the
    /// page's lock could follow in the lock order).
    @inline(__always)
    @discardableResult
    static func lock(_ page: PageRef, holding held: inout UnsafeMutablePointer<FutexLock>?) -> Bool {
        let named = page.lockWord.pointee.load(ordering: .acquiring)
        // The word names a lock we hold: nobody else can change it now.
        if let h = held, UInt(bitPattern: h) == named { return false }
        return lockSlow(page, holding: &held, named: named)
    }

    @inline(never)
    static func lockSlow(
        _ page: PageRef, holding held: inout UnsafeMutablePointer<FutexLock>?, named first: UInt
    ) -> Bool {
        var named = first
        var contended = false
        while true {
            if let h = held { h.pointee.unlock() }
            // Invariant: a lock word always names a lock in the registry's immortal memory.
            let lock = UnsafeMutablePointer<FutexLock>(bitPattern: named).unsafelyUnwrapped
            #if PAS_TEST_HOOKS
            PageLockHooks.call(PageLockHooks.beforeAcquire, page.address, named)
            #endif
            if !lock.pointee.tryLock() {
                contended = true
                lock.pointee.lock()
            }
            held = lock
            #if PAS_TEST_HOOKS
            PageLockHooks.call(PageLockHooks.afterAcquire, page.address, named)
            #endif
            let now = page.lockWord.pointee.load(ordering: .acquiring)
            if now == named { return contended }
            #if PAS_TEST_HOOKS
            PageLockHooks.call(PageLockHooks.relooped, page.address, now)
            #endif
            named = now
        }
    }

    /// Releases `held` if set.
    @inline(__always)
    static func release(_ held: inout UnsafeMutablePointer<FutexLock>?) {
        if let h = held { h.pointee.unlock() }
        held = nil
    }

    /// Makes `page` name `lock`. Precondition: the caller holds the lock the page names now and
    /// `lock`.
    @inline(__always)
    static func retarget(_ page: PageRef, to lock: UnsafeMutablePointer<FutexLock>) {
        page.lockWord.pointee.store(UInt(bitPattern: lock), ordering: .releasing)
    }

    /// True if `page` names `lock`. A snapshot, exact when the caller holds `lock`.
    @inline(__always)
    static func names(_ page: PageRef, _ lock: UnsafeMutablePointer<FutexLock>) -> Bool {
        page.lockWord.pointee.load(ordering: .relaxed) == UInt(bitPattern: lock)
    }
}

#if PAS_TEST_HOOKS
/// Hook points of the page-lock protocol, compiled only into debug builds (the tests'), so
/// race tests can stop a thread between reading a page's lock word and taking the lock it
/// named, or between taking it and re-checking the word, and change the word meanwhile. Each holds a C function pointer's bits (0:
/// none) in one atomic word, since tests running at the same time read them; a hook must
/// ignore pages it was not set for.
enum PageLockHooks {
    typealias Hook = @convention(c) (UInt, UInt) -> Void

    /// Called with the page's header address and the lock its word named, before taking it.
    static let beforeAcquire = Atomic<UInt>(0)
    /// Called with the page's header address and the lock just taken, before the re-check.
    static let afterAcquire = Atomic<UInt>(0)
    /// Called with the page's header address and the lock the re-check found it naming
    /// instead, before the retry.
    static let relooped = Atomic<UInt>(0)

    /// Sets a hook (nil: none).
    static func set(_ hook: borrowing Atomic<UInt>, _ function: Hook?) {
        hook.store(function.map { unsafeBitCast($0, to: UInt.self) } ?? 0, ordering: .releasing)
    }

    @inline(__always)
    static func call(_ hook: borrowing Atomic<UInt>, _ page: UInt, _ lock: UInt) {
        let bits = hook.load(ordering: .acquiring)
        if bits != 0 { unsafeBitCast(bits, to: Hook.self)(page, lock) }
    }
}
#endif
