import PasSystem

/// Where a participant's fork handlers run in the one process-wide order.
///
/// Prepare handlers run stage by stage in increasing order (and, within a stage, in
/// registration order); the parent and child handlers run in exactly the reverse order. Each
/// stage holds the locks that code may take while holding the locks of earlier stages, so the
/// prepare handler takes every lock in an order no thread of the process ever inverts:
///
/// 1. `mallocEntry`: the malloc library's maintenance lock (a maintenance call holds heap locks
///    and allocates, so prepare must wait for it before it locks any heap);
/// 2. `scavengerPass`: each page-sharing pool's pass lock (a pass holds it while it calls its
///    participants, which lock themselves);
/// 3. `facade`: locks a facade holds around calls into its building blocks (`PasHeap`'s
///    `largeLock`);
/// 4. `heap`: every heap's own locks, each heap in its own order (a bitfit or large heap's
///    decommit lock, then its allocation lock; every segregated heap's lock in the registry);
///    no heap lock is ever held while another heap's lock is taken;
/// 5. `poolState`: each pool's thread mutex, then its registration list, then its counters
///    (heaps take them while reporting empty pages);
/// 6. `leaf`: chunk sources' locks, the segregated registry's own lock, code regions' toggle
///    locks (taken under heap locks, never with one another);
/// 7. `pageSource`: the system page source's reservation list (taken under chunk sources' locks);
/// 8. `snapshot`: no lock; work that needs every lock above held (the JIT heap copies its code
///    files here, so no allocation, fill or decommit changes them during the copy).
public enum ForkStage: Int, Comparable, Sendable, CaseIterable {
    /// The malloc library's maintenance lock.
    case mallocEntry = 0
    /// Page-sharing pools' pass locks.
    case scavengerPass
    /// Facade locks around building blocks.
    case facade
    /// Heaps' own locks.
    case heap
    /// Pools' thread, registration and counter locks.
    case poolState
    /// Chunk sources, the segregated registry lock, code toggle locks.
    case leaf
    /// System page sources.
    case pageSource
    /// Work with every lock held (code file copies).
    case snapshot

    /// Stage order (prepare runs in increasing order).
    public static func < (a: ForkStage, b: ForkStage) -> Bool { a.rawValue < b.rawValue }
}

/// An object with state that must be made consistent across `fork()`: locks to hold while the
/// process forks, state naming threads that the child does not have, memory the child must not
/// share with its parent.
///
/// Register with `ForkRegistry.register(_:stage:)` once the object is fully initialised and
/// unregister as the first statement of its `deinit`; the registry holds it unretained and
/// calls it without retaining it, so an object whose last reference goes away during a fork
/// waits in its `deinit` until the fork is over.
/// The handlers run on the forking thread with the registry's lock held: they must not
/// register or unregister anything, must not let a participant be deallocated, and (in a
/// process whose malloc is a Pas heap) must not allocate after the `heap` stage of prepare or
/// before the `heap` stage of parent and child. Nor may they use a generic type or
/// conformance for the first time (plain loops over indices, not `reversed()` or `map`): in
/// an unoptimised build that instantiates metadata, which takes the Swift runtime's locks (a
/// thread of the parent may hold them) and calls malloc.
public protocol ForkParticipant: AnyObject {
    /// Takes the locks of `stage` (in the participant's own order).
    func prepareForFork(_ stage: ForkStage)
    /// Releases what `prepareForFork(stage)` took, in the parent.
    func parentAfterFork(_ stage: ForkStage)
    /// Releases what `prepareForFork(stage)` took, in the child, and resets state that names
    /// threads of the parent.
    func childAfterFork(_ stage: ForkStage)
}

/// The process-wide list of fork participants, and the one `pthread_atfork` registration
/// that runs their handlers.
///
/// Every heap, pool and process-wide structure of Pas registers when it is created, so a child
/// of a multithreaded process never inherits a Pas lock held by a thread that does not exist in the
/// child. Cost: registration appends to a list under a lock (once per object); a fork pays
/// one call per registration and stage, plus whatever the participants do (the JIT heap copies
/// its resident code). Nothing on an allocation fast path is involved.
///
/// Thread-safety: `register` and `unregister` may be called from any thread; they wait while
/// another thread forks.
///
/// Who holds what across a fork (by stage):
/// - `mallocEntry`: the malloc library's maintenance lock (`MallocFork`, PasMalloc).
/// - `scavengerPass`: `PageSharingPool.passLock` of every pool.
/// - `facade`: `PasHeap.largeLock`.
/// - `heap`: `BitfitHeap` (directory `decommitLock`, then `lock`; the JIT heap's small and
///   medium heaps and the facade's marge heap are bitfit heaps), `LargeHeap` (`decommitLock`,
///   then `lock`), `HeapRegistry` (every segregated heap lock, so every `SegregatedHeap`,
///   `IsoHeap` and C typed heap).
/// - `poolState`: each pool's thread mutex, `registryLock`, `countersLock`.
/// - `leaf`: `ReservationChunkSource.lock`, `CageChunkSource.lock`, `HeapRegistry.registryLock`,
///   `CodeChunkSource.lock` and its toggled regions' `CodeRegion.toggleLock`s.
/// - `pageSource`: the reservation list lock of each `SystemPageSource` a reservation chunk
///   source draws on.
/// - `snapshot`: no lock; `CodeChunkSource` copies its dual mappings' files.
///
/// Locks not held across a fork, and why that is safe:
/// - this registry's own lock: held from prepare to the parent's or child's handler, by the
///   forking thread;
/// - a `SystemPageSource` used directly, not through a `ReservationChunkSource` (PasSystem
///   cannot see this registry): held only for a list update; a program that forks while
///   another thread calls such a source directly must register it itself
///   (`ForkRegistry.register(source, stage: .pageSource)`);
/// - `MetadataPages` and `VirtualMemory`: no lock (stateless system calls);
/// - the thread-local slot's `pthread_once` and key (CPasShim): set up once, before any heap;
/// - the bootstrap arena and the start gate of the malloc library (CPasMalloc): lock-free; the
///   gate's state is reset by `MallocFork` in the child;
/// - lazily initialised globals (`PageSharingPool.shared`, `HeapRegistry.shared`, the C API's
///   process JIT heap): Swift's one-time initialisation, which a child inherits in progress
///   only if it forked during the very first use; like the Swift runtime's own metadata locks,
///   outside Pas's control;
/// - pas-bench's result lock: a benchmark executable, not library code, that never forks.
public enum ForkRegistry {
    /// Registers `participant` (unretained) for `stage`. Registering the same object again for
    /// the same stage counts a reference instead of adding an entry (a structure several objects
    /// use is registered by each of them). Cost: a lock and an array insertion.
    public static func register<P: ForkParticipant>(_ participant: P, stage: ForkStage) {
        ForkTable.shared.register(participant, stage: stage)
    }

    /// Drops one registration of `participant` for `stage` (the last one removes the entry).
    /// Call it before the participant's state goes away (first thing in `deinit`).
    public static func unregister<P: ForkParticipant>(_ participant: P, stage: ForkStage) {
        ForkTable.shared.unregister(ObjectIdentifier(participant), stage: stage)
    }

    /// True if `participant` is registered for `stage` (for tests). Takes the registry's lock.
    public static func isRegistered<P: ForkParticipant>(_ participant: P, stage: ForkStage) -> Bool {
        ForkTable.shared.contains(ObjectIdentifier(participant), stage: stage)
    }

    /// Why the handlers could not be installed (`pthread_atfork` out of memory), or nil when
    /// they run around every fork.
    public static var installFailure: PasError? { ForkTable.shared.installFailure }
}

/// The registry's storage. A class so that its lock has a fixed address.
final class ForkTable: @unchecked Sendable {
    static let shared: ForkTable = {
        let table = ForkTable()
        FutexLock.prepareSlowPath()
        do throws(PasError) {
            try ForkHandlers.install(prepare: forkPrepare, parent: forkParent, child: forkChild)
        } catch {
            table.installFailure = error
        }
        return table
    }()

    /// Why `pthread_atfork` refused the handlers, or nil. Written once, in `shared`'s initialiser.
    private(set) var installFailure: PasError? = nil

    /// What a handler call is for.
    enum Phase { case warmUp, prepare, parent, child }

    /// Calls one participant's handler for `phase` without retaining it (see `Entry`).
    typealias Handler = (UnsafeMutableRawPointer, ForkStage, Phase) -> Void

    struct Entry {
        /// The participant, unretained. Invariant: the participant unregisters (under `lock`) as
        /// the first step of its `deinit`, so an entry found under `lock` refers to an object
        /// whose stored properties are intact; it may be waiting in that `deinit` for `lock`.
        let object: UnsafeMutableRawPointer
        /// Calls the participant through `Unmanaged._withUnsafeGuaranteedRef`: no retain and no
        /// release, so a handler never runs (and never waits in) a participant's `deinit`.
        let handler: Handler
        let identity: ObjectIdentifier
        let stage: ForkStage
        var references: Int
    }

    /// Protects `entries`. Held from prepare to the parent's or child's handler, and taken
    /// before every lock a participant takes; a participant never registers with its own
    /// locks held.
    let lock = FutexLock()
    /// Sorted by stage; within a stage, in registration order.
    private var entries: [Entry] = []

    func contains(_ identity: ObjectIdentifier, stage: ForkStage) -> Bool {
        lock.withLock { entries.contains { $0.identity == identity && $0.stage == stage } }
    }

    func register<P: ForkParticipant>(_ participant: P, stage: ForkStage) {
        let identity = ObjectIdentifier(participant)
        let handler: Handler = { raw, stage, phase in
            // Invariant: `raw` is the entry's participant, alive while the entry is registered.
            Unmanaged<P>.fromOpaque(raw)._withUnsafeGuaranteedRef { p in
                switch phase {
                case .warmUp: break
                case .prepare: p.prepareForFork(stage)
                case .parent: p.parentAfterFork(stage)
                case .child: p.childAfterFork(stage)
                }
            }
        }
        let object = Unmanaged.passUnretained(participant).toOpaque()
        // Instantiates what the handler needs (in an unoptimised build) now, not in a fork.
        handler(object, stage, .warmUp)
        lock.withLock {
            if let i = entries.firstIndex(where: { $0.identity == identity && $0.stage == stage }) {
                entries[i].references += 1
                return
            }
            let at = entries.firstIndex(where: { $0.stage > stage }) ?? entries.endIndex
            entries.insert(Entry(object: object, handler: handler, identity: identity, stage: stage, references: 1), at: at)
        }
    }

    func unregister(_ identity: ObjectIdentifier, stage: ForkStage) {
        lock.withLock {
            guard let i = entries.firstIndex(where: { $0.identity == identity && $0.stage == stage }) else { return }
            entries[i].references -= 1
            if entries[i].references == 0 { entries.remove(at: i) }
        }
    }

    /// Runs every entry's handler for `phase`, in stage order or in reverse. Indices, not a
    /// copy or an iterator: nothing here allocates or instantiates metadata.
    private func run(_ phase: Phase, reversed: Bool) {
        let n = entries.count
        var k = 0
        while k < n {
            let i = reversed ? n - 1 - k : k
            entries[i].handler(entries[i].object, entries[i].stage, phase)
            k += 1
        }
    }

    func prepare() {
        lock.lock()
        run(.prepare, reversed: false)
    }

    func parent() {
        run(.parent, reversed: true)
        lock.unlock()
    }

    func child() {
        run(.child, reversed: true)
        lock.unlock()
    }
}

private let forkPrepare: @convention(c) () -> Void = { ForkTable.shared.prepare() }
private let forkParent: @convention(c) () -> Void = { ForkTable.shared.parent() }
private let forkChild: @convention(c) () -> Void = { ForkTable.shared.child() }
