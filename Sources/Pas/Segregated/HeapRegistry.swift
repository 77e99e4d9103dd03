import PasSystem

/// What the registry knows about one segregated heap.
@usableFromInline
struct HeapSlot {
    /// False once the heap is deinitialised. Protected by the heap's lock.
    var alive: Bool
    /// The heap's metadata while alive. Protected by the heap's lock.
    var core: UnsafeMutablePointer<SegregatedHeapCore>?
    /// First local-allocator slot of the heap in every thread cache. Written once at
    /// registration (under the registry lock), then read-only.
    var allocatorBase: Int
    /// Number of local-allocator slots (= size classes) of the heap. Written once.
    var classCount: Int
}

/// The process-wide table of segregated heaps, which lets several heaps share the one
/// thread-local slot.
///
/// Every heap gets an index (at most `maxHeaps`) and a contiguous range of local-allocator slots
/// (at most `maxAllocatorSlots` in total, one per size class). A thread cache holds one
/// `LocalAllocator` per slot, so a heap's fast path finds its allocator at a fixed offset from
/// the thread-local pointer. Indices and slots are never reused (a dead heap's slots may still
/// hold stale state in other threads' caches), so a process can create at most 4096 heaps and
/// 16384 size classes in its lifetime; `register` throws `.outOfMemory` past that.
///
/// The heap locks live here, in memory that is never freed, so that a thread cache flushing
/// its log or exiting can lock a heap and find out whether it is still alive.
///
/// Locks: `registryLock` protects `heapCount` and `nextAllocator`; it is a leaf and is never held
/// together with a heap lock. `heapLocks[i]` protects heap i's slot (`alive`, `core`) and all of
/// that heap's page and directory state (see `SegregatedHeapCore`); it is taken before the chunk source's
/// own lock, and never together with another heap's lock.
///
/// Fork: the registry is the `ForkParticipant` of every segregated heap (and so of every
/// `IsoHeap`), since their locks live here. At the `heap` stage it takes the lock of every
/// index handed out so far, dead heaps' included (a thread flushing its log may hold one); at
/// the `leaf` stage `registryLock`. A heap registered after the count was read has not been
/// published, so no thread of the child can reach it.
@usableFromInline
final class HeapRegistry: @unchecked Sendable {
    static let maxHeaps = 4096
    static let maxAllocatorSlots = 16384

    /// The registry, or nil if its metadata could not be mapped (then no heap can be created).
    static let shared: HeapRegistry? = HeapRegistry()

    /// One lock per heap index (see the type's locks; fork stage `heap`, all indices in order).
    let heapLocks: UnsafeMutablePointer<FutexLock>
    let slots: UnsafeMutablePointer<HeapSlot>
    /// Protects `heapCount` and `nextAllocator`; a leaf (fork stage `leaf`).
    let registryLock = FutexLock()
    private var heapCount = 0
    private var nextAllocator = 0
    /// Heap locks the fork prepare handler took (indices `0 ..< forkLockedCount`). Written and
    /// read only by the forking thread, with the fork registry's lock held.
    private var forkLockedCount = 0

    private init?() {
        let lockBytes = HeapRegistry.maxHeaps * MemoryLayout<FutexLock>.stride
        let slotOffset = (lockBytes + 63) & ~63
        let total = slotOffset + HeapRegistry.maxHeaps * MemoryLayout<HeapSlot>.stride
        // Invariant: this mapping is never released; locks in it outlive every heap.
        guard let range = try? MetadataPages.allocate(byteCount: total) else { return nil }
        heapLocks = range.pointer.bindMemory(to: FutexLock.self, capacity: HeapRegistry.maxHeaps)
        for i in 0 ..< HeapRegistry.maxHeaps { (heapLocks + i).initialize(to: FutexLock()) }
        slots = (range.pointer + slotOffset).bindMemory(to: HeapSlot.self, capacity: HeapRegistry.maxHeaps)
        slots.initialize(
            repeating: HeapSlot(alive: false, core: nil, allocatorBase: 0, classCount: 0),
            count: HeapRegistry.maxHeaps)
        if ThreadLocalSlot.setDestructor(threadCacheDestructor) != 0 { return nil }
        ForkRegistry.register(self, stage: .heap)
        ForkRegistry.register(self, stage: .leaf)
    }

    /// Reserves an index and `classCount` allocator slots for a new heap whose metadata is `core`.
    func register(classCount: Int) throws(PasError) -> (index: Int, allocatorBase: Int) {
        registryLock.lock()
        defer { registryLock.unlock() }
        guard heapCount < HeapRegistry.maxHeaps,
            nextAllocator + classCount <= HeapRegistry.maxAllocatorSlots
        else {
            throw .outOfMemory(.allocate, requested: classCount)
        }
        let index = heapCount
        let base = nextAllocator
        heapCount += 1
        nextAllocator += classCount
        slots[index].allocatorBase = base
        slots[index].classCount = classCount
        return (index, base)
    }

    @inline(__always) func lock(heap index: Int) { (heapLocks + index).pointee.lock() }
    @inline(__always) func unlock(heap index: Int) { (heapLocks + index).pointee.unlock() }

    /// Publishes a heap's metadata. Caller holds no lock.
    func activate(heap index: Int, core: UnsafeMutablePointer<SegregatedHeapCore>) {
        lock(heap: index)
        slots[index].core = core
        slots[index].alive = true
        unlock(heap: index)
    }

    /// Marks a heap dead; afterwards no thread cache touches its pages. Caller holds no lock.
    func retire(heap index: Int) {
        lock(heap: index)
        slots[index].alive = false
        slots[index].core = nil
        unlock(heap: index)
    }

    /// The live heap's metadata. Caller holds heap `index`'s lock.
    @inline(__always) func core(ofHeap index: Int) -> UnsafeMutablePointer<SegregatedHeapCore>? {
        slots[index].alive ? slots[index].core : nil
    }
}

extension HeapRegistry: ForkParticipant {
    @usableFromInline func prepareForFork(_ stage: ForkStage) {
        switch stage {
        case .heap:
            registryLock.lock()
            forkLockedCount = heapCount
            registryLock.unlock()
            // Plain loops: handlers must not instantiate generic metadata (see `ForkParticipant`).
            var i = 0
            while i < forkLockedCount { lock(heap: i); i += 1 }
        case .leaf: registryLock.lock()
        default: break
        }
    }

    @usableFromInline func parentAfterFork(_ stage: ForkStage) {
        switch stage {
        case .heap:
            var i = forkLockedCount
            while i > 0 { i -= 1; unlock(heap: i) }
        case .leaf: registryLock.unlock()
        default: break
        }
    }

    @usableFromInline func childAfterFork(_ stage: ForkStage) { parentAfterFork(stage) }
}

/// Runs at thread exit (through `ThreadLocalSlot`'s destructor) with the thread cache's address.
let threadCacheDestructor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { cache in
    if let cache { ThreadCache.destroy(cache) }
}
