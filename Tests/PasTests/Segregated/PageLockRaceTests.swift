#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import PasTestSupport

@testable import Pas
@testable import PasSystem

/// Where the page-lock hooks stop a thread: the first time any thread reaches the hook for
/// `target`, it records its arrival and waits until `release` is set. Statics, because the hooks
/// are C function pointers.
private enum RaceGate {
    static let target = Atomic<UInt>(0)
    static let fired = Atomic<Bool>(false)
    static let arrived = Atomic<Bool>(false)
    static let release = Atomic<Bool>(false)
    /// The lock the re-check found the target page naming instead (0: no reloop).
    static let relooped = Atomic<UInt>(0)
    /// A lock the hook moves the target page to from the lock it read (0: none); single-thread
    /// tests use it to play the other thread.
    static let moveTo = Atomic<UInt>(0)

    static func arm(page: UInt) {
        fired.store(false, ordering: .relaxed)
        arrived.store(false, ordering: .relaxed)
        release.store(false, ordering: .relaxed)
        relooped.store(0, ordering: .relaxed)
        moveTo.store(0, ordering: .relaxed)
        target.store(page, ordering: .releasing)
    }

    static func disarm() {
        PageLockHooks.set(PageLockHooks.beforeAcquire, nil)
        PageLockHooks.set(PageLockHooks.relooped, nil)
        target.store(0, ordering: .releasing)
    }
}

/// Waits (sleeping) up to 10 s for `condition`; whether it became true. For a thread the test
/// stopped at a hook, which the test does not drive.
private func waitUntil(_ condition: () -> Bool) -> Bool {
    for _ in 0 ..< 10_000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// Stops the first thread that is about to take the target page's lock until `release`.
private let pauseBeforeAcquire: PageLockHooks.Hook = { page, _ in
    guard page == RaceGate.target.load(ordering: .acquiring),
        !RaceGate.fired.exchange(true, ordering: .acquiringAndReleasing)
    else { return }
    RaceGate.arrived.store(true, ordering: .releasing)
    while !RaceGate.release.load(ordering: .acquiring) { usleep(1000) }
}

/// Retargets the target page, once, from the lock it named to `moveTo`, as another thread
/// holding both locks would between the read and the acquire.
private let moveBeforeAcquire: PageLockHooks.Hook = { page, named in
    guard page == RaceGate.target.load(ordering: .acquiring),
        !RaceGate.fired.exchange(true, ordering: .acquiringAndReleasing)
    else { return }
    let old = UnsafeMutablePointer<FutexLock>(bitPattern: named)!
    let new = UnsafeMutablePointer<FutexLock>(bitPattern: RaceGate.moveTo.load(ordering: .acquiring))!
    old.pointee.lock()
    new.pointee.lock()
    PageLock.retarget(PageRef(page, SmallPagesConfig.layout), to: new)
    new.pointee.unlock()
    old.pointee.unlock()
}

private let recordReloop: PageLockHooks.Hook = { page, now in
    if page == RaceGate.target.load(ordering: .acquiring) { RaceGate.relooped.store(now, ordering: .releasing) }
}

/// The page-lock protocol (`PageLock`): lock switching, the re-check after acquiring, and the
/// un-biasing of contended pages, driven through the hook points compiled into test builds.
@Suite(.serialized) struct PageLockRaceTests {
    /// Fake page headers: a 128-byte header per page, its lock word at byte 64.
    private func withFakePages(_ count: Int, _ body: ([PageRef], UnsafeMutablePointer<FutexLock>) throws -> Void) rethrows {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 128, alignment: 64)
        let locks = UnsafeMutablePointer<FutexLock>.allocate(capacity: 3)
        for i in 0 ..< 3 { (locks + i).initialize(to: FutexLock()) }
        defer {
            locks.deinitialize(count: 3)
            locks.deallocate()
            raw.deallocate()
        }
        let pages = (0 ..< count).map { i in PageRef(UInt(bitPattern: raw + i * 128), SmallPagesConfig.layout) }
        for i in 0 ..< count { (raw + i * 128 + 64).bindMemory(to: Atomic<UInt>.self, capacity: 1).initialize(to: Atomic(0)) }
        try body(pages, locks)
    }

    /// Allocates one page's worth of 256-byte objects on the calling thread, which takes the
    /// page and biases it to its thread lock. Returns the objects, the page, the thread's cache
    /// and its thread lock.
    private func fillOnePage(_ heap: SmallHeap) throws -> (
        [UnsafeMutableRawPointer], PageRef, UnsafeMutableRawPointer, UnsafeMutablePointer<FutexLock>
    ) {
        var pointers: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 16384 / 256 { pointers.append(try heap.allocate(size: 256)) }
        let layout = SmallPagesConfig.layout
        let page = PageRef(layout.header(containing: UInt(bitPattern: pointers[0])), layout)
        let cache = try #require(ThreadCache.current)
        let threadLock = try #require(ThreadCache.threadLock(cache))
        #expect(PageLock.names(page, threadLock), "a page the thread takes is biased to its lock")
        return (pointers, page, cache, threadLock)
    }

    @Test func lockingPagesOnTheLockHeldKeepsItAndAnotherLockSwitches() {
        withFakePages(3) { pages, locks in
            PageLock.retarget(pages[0], to: locks)
            PageLock.retarget(pages[1], to: locks)
            PageLock.retarget(pages[2], to: locks + 1)
            var held: UnsafeMutablePointer<FutexLock>? = nil
            PageLock.lock(pages[0], holding: &held)
            #expect(held == locks && locks.pointee.isLocked)
            PageLock.lock(pages[1], holding: &held)
            #expect(held == locks && locks.pointee.isLocked, "a page on the held lock takes no other lock")
            PageLock.lock(pages[2], holding: &held)
            #expect(held == locks + 1 && !locks.pointee.isLocked && (locks + 1).pointee.isLocked)
            PageLock.release(&held)
            #expect(held == nil && !(locks + 1).pointee.isLocked)
        }
    }

    @Test func aLockWordChangedBeforeTheAcquireIsFollowed() {
        withFakePages(1) { pages, locks in
            PageLock.retarget(pages[0], to: locks)
            RaceGate.arm(page: pages[0].address)
            RaceGate.moveTo.store(UInt(bitPattern: locks + 2), ordering: .releasing)
            PageLockHooks.set(PageLockHooks.beforeAcquire, moveBeforeAcquire)
            PageLockHooks.set(PageLockHooks.relooped, recordReloop)
            defer { RaceGate.disarm() }
            var held: UnsafeMutablePointer<FutexLock>? = nil
            PageLock.lock(pages[0], holding: &held)
            #expect(RaceGate.relooped.load(ordering: .acquiring) == UInt(bitPattern: locks + 2))
            #expect(held == locks + 2 && (locks + 2).pointee.isLocked && !locks.pointee.isLocked)
            PageLock.release(&held)
        }
    }

    /// Another thread's free reads the page's lock word (the owner's thread lock) and stops
    /// before taking it; meanwhile the owner gives the page back (which moves it to its
    /// directory's lock). The free must notice the change after acquiring, retry on the
    /// directory lock, and apply the free to the now unowned page: marking it as a remote free
    /// of an owned page would leave an unowned page with owner state, which `verify` reports.
    @Test func aFreeThatRacesTheOwnersReleaseRetriesOnTheNewLock() throws {
        let heap = try SmallHeap(coldStart: false, pageSharing: nil)
        let (pointers, page, _, _) = try fillOnePage(heap)
        let perPage = pointers.count
        let victim = pointers[10]
        RaceGate.arm(page: page.address)
        PageLockHooks.set(PageLockHooks.beforeAcquire, pauseBeforeAcquire)
        PageLockHooks.set(PageLockHooks.relooped, recordReloop)
        defer { RaceGate.disarm() }
        let object = Unchecked(victim)
        let freer = JoinableThread {
            heap.deallocateUnchecked(object.value)
            heap.flushThreadCache()
        }
        try #require(waitUntil { RaceGate.arrived.load(ordering: .acquiring) })
        heap.flushThreadCache()
        let directory = SegregatedHeapCore.directoryLock(heap.core, Int(page.fields.pointee.classIndex))
        #expect(PageLock.names(page, directory), "a released page names its directory's lock")
        RaceGate.release.store(true, ordering: .releasing)
        freer.join()
        #expect(RaceGate.relooped.load(ordering: .acquiring) == UInt(bitPattern: directory))
        try heap.verify()
        #expect(heap.statistics.objectsInUse == perPage - 1)
        #expect(throws: PasError.self) { try heap.size(of: victim) }
        for p in pointers where p != victim { try heap.deallocate(p) }
        try heap.verify()
    }

    /// A free that finds the owner's thread lock busy moves the page to its directory's lock:
    /// the page stays owned (its owner still allocates from it), and later frees and the
    /// owner's merge take the directory lock instead.
    @Test func aContendedThreadLockUnbiasesThePage() throws {
        let heap = try SmallHeap(coldStart: false, pageSharing: nil)
        let (pointers, page, cache, threadLock) = try fillOnePage(heap)
        let victim = pointers[20]
        threadLock.pointee.lock()
        let object = Unchecked(victim)
        let freer = JoinableThread {
            heap.deallocateUnchecked(object.value)
            heap.flushThreadCache()
        }
        // State 2: a thread waits for the lock (its try-lock failed).
        try #require(waitUntil { threadLock.pointee.state.load(ordering: .acquiring) == 2 })
        threadLock.pointee.unlock()
        freer.join()
        let directory = SegregatedHeapCore.directoryLock(heap.core, Int(page.fields.pointee.classIndex))
        #expect(PageLock.names(page, directory), "the contended page moved to its directory's lock")
        #expect(page.fields.pointee.owner == UInt(bitPattern: cache), "and stayed owned")
        try heap.verify()
        // The owner's refill takes the remote free in under the directory lock.
        #expect(try heap.allocate(size: 256) == victim)
        try heap.verify()
        for p in pointers { try heap.deallocate(p) }
        heap.flushThreadCache()
        #expect(heap.statistics.objectsInUse == 0)
        try heap.verify()
    }

    /// A heap deinitialised while another thread is inside it (flushing its log) waits for that
    /// thread to leave before it unmaps anything.
    @Test func retiringAHeapWaitsForAThreadInsideIt() throws {
        let box = HandoffLock<SmallHeap?>(try SmallHeap(coldStart: false, pageSharing: nil))
        let object = try box.withLock { try $0!.allocate(size: 64) }
        let page = SmallPagesConfig.layout.header(containing: UInt(bitPattern: object))
        RaceGate.arm(page: page)
        PageLockHooks.set(PageLockHooks.beforeAcquire, pauseBeforeAcquire)
        defer { RaceGate.disarm() }
        let pointer = Unchecked(object)
        let freer = JoinableThread {
            // Log the free, drop this thread's reference, then flush: the flush enters the heap
            // through its guard and stops at the hook.
            box.withLock { $0!.deallocateUnchecked(pointer.value) }
            if let cache = ThreadCache.current { ThreadCache.flushLog(cache) }
        }
        try #require(waitUntil { RaceGate.arrived.load(ordering: .acquiring) })
        let retired = Atomic<Bool>(false)
        let dropper = JoinableThread {
            box.withLock { $0 = nil }
            retired.store(true, ordering: .releasing)
        }
        usleep(100_000)
        let early = retired.load(ordering: .acquiring)
        #expect(!early, "the heap was retired while a thread was inside it")
        RaceGate.release.store(true, ordering: .releasing)
        freer.join()
        dropper.join()
        let late = retired.load(ordering: .acquiring)
        #expect(late)
    }
}
