#if canImport(Glibc)
import Glibc
#endif
import CPasMalloc
import Pas
import PasSystem

// Start-up of the malloc library.
//
// The heap behind malloc is a `PasHeap`: creating it allocates Swift objects and runtime
// metadata, which call malloc again. The first allocation call passes the start gate
// (`pas_malloc_start_enter`, plain C in CPasMalloc): the winning thread creates the heap in
// `createHeap`, and every allocation it makes meanwhile — the re-entrant ones — is served from
// the bootstrap arena (plain C in CPasMalloc, a bump pointer in a 64 MiB private mapping). Other
// threads wait at the gate until the heap is published. Once published, the entry points
// read one pointer and never look at the gate again.
//
// Before publishing, `createHeap` runs every heap path the entry points use once ("warm-up"),
// still with re-entrant calls going to the arena: an unoptimised build instantiates Swift
// runtime metadata on a path's first run, and that instantiation calls malloc; after the
// warm-up the paths no longer allocate, so a malloc inside a metadata instantiation can never
// need the metadata being instantiated.
//
// Bootstrap memory is never reused: free ignores it, realloc copies out of it, and
// malloc_usable_size reads the size word stored in front of each block.

/// The heap once published.
@inline(__always)
func publishedHeap() -> Unmanaged<PasHeap>? {
    guard let raw = pas_malloc_heap_get() else { return nil }
    // Invariant: the published pointer is a `PasHeap` retained forever by `createHeap`.
    return Unmanaged.fromOpaque(raw)
}

/// Allocation while the heap may not exist yet: passes the start gate, creating the heap if
/// this thread wins it, and serves re-entrant calls from the bootstrap arena.
/// Metadata-free up to the gate (C calls and optional binding only).
@inline(never)
func mallocStarting(_ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer? {
    let gate = pas_malloc_start_enter()
    if gate == -2, let aux = pas_malloc_aux_heap_get() { return heapMallocSlow(Unmanaged.fromOpaque(aux), size, alignment) }
    if gate < 0 { return pas_malloc_bootstrap_allocate(size, alignment) }
    if gate > 0 { createHeap() }
    if let raw = pas_malloc_heap_get() { return heapMallocSlow(Unmanaged.fromOpaque(raw), size, alignment) }
    return pas_malloc_bootstrap_allocate(size, alignment)
}

/// Called by the start gate's constructor when the library is loaded: creates the heap there
/// (see CPasMalloc's start_gate.c) unless an earlier allocation already did.
@_cdecl("pas_malloc_create_heap")
public func pas_malloc_create_heap() {
    #if DEBUG
    guard pas_malloc_depth_enter() else {
        pas_malloc_depth_leave()
        return
    }
    defer { pas_malloc_depth_leave() }
    #endif
    if pas_malloc_start_enter() > 0 { createHeap() }
}

/// Creates, warms up and publishes the heap. Runs once, on the thread that won the start gate
/// (and again in a forked child whose parent was still creating it, see `MallocFork`).
@inline(never)
func createHeap() {
    // First, so that a fork from now on resets the gate in the child; the heaps register
    // their own locks as they are created.
    MallocFork.register()
    // No page-sharing pool: its scavenger thread allocates while holding its locks, which a
    // malloc built on these heaps cannot allow; `pas_scavenge` / `malloc_trim` return pages.
    // The default cage, or a smaller one when the address space is limited (see MallocCage).
    guard let heap = try? PasHeap(minimumCageBytes: MallocCage.minimumBytes, pageSharing: nil) else {
        MallocCage.reportNoHeap()
        pas_malloc_start_finish(nil)
        return
    }
    let limited = heap.cage.byteCount < PasHeap.defaultCageBytes
    if limited { MallocCage.reportShrunk(to: heap.cage.byteCount) }
    let unmanaged = Unmanaged.passRetained(heap)
    warmUp(unmanaged)
    if let aux = try? PasHeap(
        cageBytes: limited ? MallocCage.auxiliaryLimitedBytes : MallocCage.auxiliaryBytes,
        minimumCageBytes: MallocCage.auxiliaryLimitedBytes, pageSharing: nil)
    {
        let auxiliary = Unmanaged.passRetained(aux)
        warmUp(auxiliary)
        pas_malloc_aux_heap_set(auxiliary.toOpaque())
    }
    pas_malloc_start_finish(unmanaged.toOpaque())
}

/// Runs each heap path of the entry points once (see the note at the top of this file).
func warmUp(_ heap: Unmanaged<PasHeap>) {
    for (size, alignment) in [(16, 16), (3000, 16), (40_000, 16), (1 << 20, 16), (48, 64), (100, 8192)] {
        let p = alignment <= 16 ? heapMalloc(heap, size) : heapMallocSlow(heap, size, alignment)
        guard let p else { continue }
        _ = heapUsableSize(heap, p)
        let q = heapRealloc(heap, p, size * 2) ?? p
        _ = heapFree(heap, q)
    }
    _ = heapFree(heap, UnsafeMutableRawPointer(bitPattern: 16).unsafelyUnwrapped)
    _ = heapMallocSlow(heap, 0, 16).map { heapFree(heap, $0) }
    _ = heap._withUnsafeGuaranteedRef { $0.ignoredFrees }
    _ = heap._withUnsafeGuaranteedRef { $0.decommitEmptyPages() }
    _ = SystemInfo.pageSize
}

/// The auxiliary heap, if `pointer` is one of its objects.
func auxiliaryHeap(owning pointer: UnsafeMutableRawPointer) -> Unmanaged<PasHeap>? {
    guard let raw = pas_malloc_aux_heap_get() else { return nil }
    let aux = Unmanaged<PasHeap>.fromOpaque(raw)
    return aux._withUnsafeGuaranteedRef { $0.contains(pointer) } ? aux : nil
}

/// Runs `body` on the heap as a maintenance call: the heap's own paths (verify, scavenge)
/// allocate Swift arrays while holding heap locks, so meanwhile this thread's allocations go to
/// the auxiliary heap and other threads' allocations wait at the gate.
func maintenance<R>(_ body: (PasHeap) -> R) -> R? {
    guard let heap = publishedHeap() else { return nil }
    // Before the gate and every heap lock (fork stage `mallocEntry`): a fork waits for the call.
    let fork = MallocFork.shared
    fork.maintenanceLock.lock()
    defer { fork.maintenanceLock.unlock() }
    pas_malloc_maintenance_begin()
    defer { pas_malloc_maintenance_end() }
    return heap._withUnsafeGuaranteedRef(body)
}

// MARK: heap paths of the entry points

@inline(__always)
func heapMalloc(_ heap: Unmanaged<PasHeap>, _ size: Int) -> UnsafeMutableRawPointer? {
    if let p = heap._withUnsafeGuaranteedRef({ $0.allocateUnchecked(size: size) }) { return p }
    return heapMallocSlow(heap, size, 16)
}

/// Size 0, alignments above 16, and retries after a failed fast path; sets errno on failure.
@inline(never)
func heapMallocSlow(_ heap: Unmanaged<PasHeap>, _ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer? {
    let bytes = size == 0 ? 1 : size
    let p = heap._withUnsafeGuaranteedRef {
        alignment <= 16 ? $0.allocateUnchecked(size: bytes) : $0.allocateAlignedUnchecked(size: bytes, alignment: alignment)
    }
    if let p { return p }
    errno = ENOMEM
    return nil
}

@inline(__always)
func heapFree(_ heap: Unmanaged<PasHeap>, _ pointer: UnsafeMutableRawPointer) -> Bool {
    heap._withUnsafeGuaranteedRef { $0.deallocateUnchecked(pointer) }
}

/// Usable size, or -1 if `pointer` is not in the heap's cage.
func heapUsableSize(_ heap: Unmanaged<PasHeap>, _ pointer: UnsafeMutableRawPointer) -> Int {
    heap._withUnsafeGuaranteedRef { $0.contains(pointer) ? $0.usableSizeUnchecked(of: pointer) : -1 }
}

/// realloc of a pointer in the cage (size > 0); nil with errno ENOMEM on failure.
func heapRealloc(_ heap: Unmanaged<PasHeap>, _ pointer: UnsafeMutableRawPointer, _ size: Int) -> UnsafeMutableRawPointer? {
    if let p = heap._withUnsafeGuaranteedRef({ $0.reallocateUnchecked(pointer, to: size) }) { return p }
    errno = ENOMEM
    return nil
}

// MARK: fork

/// The malloc library's place in the fork order: the first stage (`mallocEntry`), before any
/// heap lock is taken.
///
/// Prepare takes `maintenanceLock`, so no maintenance call (which hides the heap pointer behind
/// the gate, holds heap locks and allocates from the auxiliary heap) is running while the
/// process forks; the heap pointer is then the published one. The heaps behind malloc (the
/// main and the auxiliary `PasHeap`) register their own locks with `ForkRegistry` when they are
/// created, so every heap lock is held across the fork after this. The child's handler runs
/// last: it resets the start gate, whose state may name a thread of the parent (a heap being
/// created: the child starts over and creates its own; a maintenance call cannot be running).
/// Pages other threads of the parent held in their caches stay owned in the child.
///
/// Every pthread_atfork handler registered after this library's (the application's, which
/// may call malloc) runs its prepare step before these and its parent/child steps after.
final class MallocFork: ForkParticipant, @unchecked Sendable {
    static let shared = MallocFork()

    /// Serialises maintenance calls and excludes them from a fork. Taken before the start gate's
    /// maintenance state and before every heap lock; the first lock of the fork order.
    let maintenanceLock = FutexLock()

    /// Registers the library's fork handlers (once; later calls count references).
    static func register() { ForkRegistry.register(shared, stage: .mallocEntry) }

    func prepareForFork(_ stage: ForkStage) { maintenanceLock.lock() }

    func parentAfterFork(_ stage: ForkStage) { maintenanceLock.unlock() }

    func childAfterFork(_ stage: ForkStage) {
        pas_malloc_reset_after_fork()
        maintenanceLock.unlock()
    }
}
