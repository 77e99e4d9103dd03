import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The kinds of object a C handle names; each kind's handles are rejected by the others'
/// functions.
enum HandleKind: UInt, Sendable {
    case heap = 1
    case typedHeap = 2
    case jitHeap = 3

    /// The C type name, for error messages.
    var cName: String {
        switch self {
        case .heap: return "pas_heap"
        case .typedHeap: return "pas_typed_heap"
        case .jitHeap: return "pas_jit_heap"
        }
    }
}

/// The table behind every `pas_heap*`, `pas_typed_heap*` and `pas_jit_heap*` the C API hands
/// out. A handle is not an address: it encodes a slot index, the slot's generation and the
/// kind, so a destroyed handle (whose slot was freed, and maybe reused by a later create) or a
/// value that was never a handle is recognised and reported as `PAS_ERROR_INVALID_HANDLE`
/// instead of being dereferenced.
///
/// Handle bits: 63...56 `0x50 + kind`, 47...16 the slot's generation (32 bits), 15...0 the
/// slot index. User-space addresses have their top 16 bits clear, so no pointer is ever
/// mistaken for a handle. A slot's generation grows by one on each destroy, so a stale handle
/// could only match again after 2^32 create/destroy cycles of the same slot.
///
/// Capacity: `capacity - 1` live handles (slot 0 is never used); a create beyond it fails with
/// `PAS_ERROR_OUT_OF_MEMORY`. The slots are one zeroed allocation of 1 MiB made on first use
/// (calloc: pages are touched only as slots are used).
///
/// Thread-safety: `insert` and `remove` take `lock`; `lookup` takes no lock and no atomic
/// read-modify-write (a load of the slot's stamp, the object and the stamp again, with
/// acquire fences), so C calls on different heaps never contend. Using a handle while another
/// thread destroys it is a program error: the lookup may succeed and the object then die.
enum HandleTable {
    /// Slots; a power of two no larger than 2^16 (the index field).
    static let capacity = 1 << 16

    /// One slot: `stamp` = generation << 1 | live bit, `object` = the retained object or 0.
    struct Slot {
        var stamp: UInt64
        var object: UInt
    }

    /// Protects the free list, `nextFresh` and every write to a slot. Taken alone (never with
    /// a heap lock): no heap method is called while it is held.
    static let lock = Mutex<State>(State())

    struct State: ~Copyable {
        /// Freed slot indexes, reused most recently freed first.
        var free: [Int] = []
        /// Next never-used slot index (slot 0 is never used, so 0 is no handle).
        var nextFresh = 1
    }

    /// The slots, or nil if the allocation failed (every create then fails).
    /// Invariant: `capacity` zeroed slots that live for the whole process.
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Slot>? =
        calloc(capacity, MemoryLayout<Slot>.stride).map { $0.assumingMemoryBound(to: Slot.self) }

    static func encode(index: Int, generation: UInt64, kind: HandleKind) -> UInt {
        ((0x50 &+ kind.rawValue) << 56) | (UInt(truncatingIfNeeded: generation & 0xFFFF_FFFF) << 16) | UInt(index)
    }

    /// Registers `object` (+1 retained, released by `remove`) and returns its handle, or nil
    /// if the table is full.
    static func insert(_ object: AnyObject, kind: HandleKind) -> UnsafeMutableRawPointer? {
        guard let slots else { return nil }
        let unmanaged = Unmanaged<AnyObject>.passRetained(object)
        let handle: UInt? = lock.withLock { state in
            let index: Int
            if let reused = state.free.popLast() {
                index = reused
            } else if state.nextFresh < capacity {
                index = state.nextFresh
                state.nextFresh += 1
            } else {
                return nil
            }
            // Invariant: index < capacity; only this lock's holder writes slots.
            let generation = slots[index].stamp >> 1
            slots[index].object = UInt(bitPattern: unmanaged.toOpaque())
            atomicMemoryFence(ordering: .releasing)
            slots[index].stamp = generation << 1 | 1
            return encode(index: index, generation: generation, kind: kind)
        }
        guard let handle else {
            unmanaged.release()
            return nil
        }
        return UnsafeMutableRawPointer(bitPattern: handle)
    }

    /// Why a handle was refused.
    enum Problem: Error {
        /// Not a handle of this kind (another kind's handle, an address, garbage).
        case notAHandle
        /// A handle of this kind whose object was destroyed.
        case destroyed
    }

    /// The slot index of a well-formed handle of `kind`, and the generation it names.
    static func decode(_ handle: UnsafeRawPointer, kind: HandleKind) -> (index: Int, generation: UInt64)? {
        let bits = UInt(bitPattern: handle)
        guard bits >> 56 == 0x50 &+ kind.rawValue, bits & 0x00FF_0000_0000_0000 == 0 else { return nil }
        let index = Int(bits & 0xFFFF)
        guard index != 0 else { return nil }
        return (index, UInt64((bits >> 16) & 0xFFFF_FFFF))
    }

    /// The live object `handle` names. Cost: a few loads and compares, no lock.
    static func lookup(_ handle: UnsafeRawPointer, kind: HandleKind) -> Result<AnyObject, Problem> {
        guard let slots, let (index, generation) = decode(handle, kind: kind) else { return .failure(.notAHandle) }
        // Invariant: index < capacity (16 bits). Writers store the object before the live
        // stamp and clear the stamp before the object; equal stamps around the object read
        // mean the object belongs to that stamp.
        let before = slots[index].stamp
        atomicMemoryFence(ordering: .acquiring)
        let object = slots[index].object
        atomicMemoryFence(ordering: .acquiring)
        let after = slots[index].stamp
        guard before == after, before & 1 == 1, (before >> 1) & 0xFFFF_FFFF == generation,
            let raw = UnsafeRawPointer(bitPattern: object)
        else {
            return .failure(index < lock.withLock({ $0.nextFresh }) ? .destroyed : .notAHandle)
        }
        return .success(Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue())
    }

    /// Frees the slot of `handle` and releases its object (after the lock is dropped, so a
    /// deinitialiser never runs under it). A second remove of the same handle is `.destroyed`.
    static func remove(_ handle: UnsafeRawPointer, kind: HandleKind) -> Result<Void, Problem> {
        guard let slots, let (index, generation) = decode(handle, kind: kind) else { return .failure(.notAHandle) }
        let outcome: Result<UInt, Problem> = lock.withLock { state in
            guard index < state.nextFresh else { return .failure(.notAHandle) }
            // Invariant: as in `insert`.
            let stamp = slots[index].stamp
            guard stamp & 1 == 1, (stamp >> 1) & 0xFFFF_FFFF == generation else { return .failure(.destroyed) }
            slots[index].stamp = ((stamp >> 1) &+ 1) << 1
            atomicMemoryFence(ordering: .releasing)
            let object = slots[index].object
            slots[index].object = 0
            state.free.append(index)
            return .success(object)
        }
        switch outcome {
        case .failure(let problem): return .failure(problem)
        case .success(let object):
            if let raw = UnsafeRawPointer(bitPattern: object) { Unmanaged<AnyObject>.fromOpaque(raw).release() }
            return .success(())
        }
    }

    /// Records the refusal of `handle` by `function` and returns the C code.
    @discardableResult
    static func report(_ problem: Problem, _ handle: UnsafeRawPointer, kind: HandleKind, _ function: String) -> Int32 {
        let hex = "0x" + String(UInt(bitPattern: handle), radix: 16)
        let what: String
        switch problem {
        case .notAHandle: what = "\(hex) is not a \(kind.cName) handle"
        case .destroyed: what = "\(kind.cName) \(hex) was already destroyed"
        }
        LastError.record(.invalidHandle, errno: EINVAL, address: UInt(bitPattern: handle), message: "\(function): \(what)")
        return PasErrorCode.invalidHandle.rawValue
    }

    /// The object of `handle` as `T`, or nil with the error recorded (NULL, stale, wrong kind).
    @inline(__always)
    static func object<T: AnyObject>(
        _ handle: UnsafeRawPointer?, kind: HandleKind, as type: T.Type,
        _ function: String
    ) -> T? {
        guard let handle else {
            LastError.recordInvalidArgument(function, "heap is NULL")
            return nil
        }
        switch lookup(handle, kind: kind) {
        case .success(let object):
            // Invariant: a slot of `kind` holds only objects of that kind's class.
            return unsafeDowncast(object, to: T.self)
        case .failure(let problem):
            report(problem, handle, kind: kind, function)
            return nil
        }
    }
}
