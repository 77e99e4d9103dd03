import Pas
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

// The `pas_heap_*` functions of pas_heap.h. A `pas_heap*` is a `HandleTable` handle of a
// `PasHeap` (retained by the table until destroy), checked on every call. Every function records
// failures with `LastError` and returns the documented failure value. Cost and thread-safety
// are those of the `PasHeap` method each one calls (pas_heap.h states them for C callers).

/// The heap behind a handle, or nil with the error recorded: INVALID_ARGUMENT for NULL,
/// INVALID_HANDLE for a destroyed handle or one that is not a `pas_heap*` (see `HandleTable`).
@inline(__always)
func generalHeap(_ handle: UnsafeRawPointer?, _ function: String) -> PasHeap? {
    HandleTable.object(handle, kind: .heap, as: PasHeap.self, function)
}

/// `pas_heap* pas_heap_create(size_t cage_bytes)`: 0 means `PasHeap.defaultCageBytes`.
@_cdecl("pas_heap_create")
public func pas_heap_create(_ cageBytes: UInt) -> UnsafeMutableRawPointer? {
    let created = LastError.catching(orReturn: nil, context: "pas_heap_create") { () throws(PasError) -> PasHeap? in
        try PasHeap(cageBytes: cageBytes == 0 ? PasHeap.defaultCageBytes : cSize(cageBytes))
    }
    guard let heap = created else { return nil }
    guard let handle = HandleTable.insert(heap, kind: .heap) else {
        LastError.record(.outOfMemory(.allocate, requested: 0), context: "pas_heap_create: too many live heap handles")
        return nil
    }
    return handle
}

/// `pas_error_code pas_heap_destroy(pas_heap* heap)`.
@_cdecl("pas_heap_destroy")
public func pas_heap_destroy(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let handle else {
        LastError.recordInvalidArgument("pas_heap_destroy", "heap is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    if case .failure(let problem) = HandleTable.remove(handle, kind: .heap) {
        return HandleTable.report(problem, handle, kind: .heap, "pas_heap_destroy")
    }
    return PasErrorCode.ok.rawValue
}

/// `void* pas_heap_allocate(pas_heap* heap, size_t size, size_t alignment)`: alignment 0 means 16.
@_cdecl("pas_heap_allocate")
public func pas_heap_allocate(_ handle: UnsafeMutableRawPointer?, _ size: UInt, _ alignment: UInt) -> UnsafeMutableRawPointer? {
    guard let heap = generalHeap(handle, "pas_heap_allocate") else { return nil }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        try heap.allocate(size: cSize(size), alignment: alignment == 0 ? SizeClasses.minAlign : cSize(alignment))
    }
}

/// `void* pas_heap_allocate_zeroed(pas_heap* heap, size_t count, size_t size, size_t alignment)`.
@_cdecl("pas_heap_allocate_zeroed")
public func pas_heap_allocate_zeroed(
    _ handle: UnsafeMutableRawPointer?, _ count: UInt, _ size: UInt,
    _ alignment: UInt
) -> UnsafeMutableRawPointer? {
    guard let heap = generalHeap(handle, "pas_heap_allocate_zeroed") else { return nil }
    // Checked here in size_t terms, so the message names both factors.
    let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
    guard !overflow, bytes <= UInt(Int.max) else {
        LastError.record(
            .invalidSize, errno: EINVAL, address: 0,
            message: "pas_heap_allocate_zeroed: \(count) * \(size) bytes overflows")
        return nil
    }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        try heap.allocateZeroed(
            count: Int(count), size: Int(size),
            alignment: alignment == 0 ? SizeClasses.minAlign : cSize(alignment))
    }
}

/// `void* pas_heap_reallocate(pas_heap* heap, void* block, size_t new_size)`.
@_cdecl("pas_heap_reallocate")
public func pas_heap_reallocate(
    _ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?,
    _ newSize: UInt
) -> UnsafeMutableRawPointer? {
    guard let heap = generalHeap(handle, "pas_heap_reallocate") else { return nil }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        guard let block else { throw .unknownPointer(.reallocate, address: 0) }
        return try heap.reallocate(block, to: cSize(newSize))
    }
}

/// `pas_error_code pas_heap_deallocate(pas_heap* heap, void* block)`.
@_cdecl("pas_heap_deallocate")
public func pas_heap_deallocate(_ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = generalHeap(handle, "pas_heap_deallocate") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in
        guard let block else { throw .unknownPointer(.deallocate, address: 0) }
        try heap.deallocate(block)
    }
}

/// `size_t pas_heap_get_size(pas_heap* heap, const void* block)`: 0 for a pointer that is not a live block.
@_cdecl("pas_heap_get_size")
public func pas_heap_get_size(_ handle: UnsafeMutableRawPointer?, _ block: UnsafeRawPointer?) -> UInt {
    guard let heap = generalHeap(handle, "pas_heap_get_size") else { return 0 }
    return LastError.catching(orReturn: 0) { () throws(PasError) in
        guard let block else { throw .unknownPointer(.sizeQuery, address: 0) }
        return UInt(try heap.size(of: block))
    }
}

/// `bool pas_heap_contains(const pas_heap* heap, const void* pointer)`: nothing is recorded.
@_cdecl("pas_heap_contains")
public func pas_heap_contains(_ handle: UnsafeRawPointer?, _ pointer: UnsafeRawPointer?) -> Bool {
    guard let handle, case .success(let object) = HandleTable.lookup(handle, kind: .heap) else { return false }
    // Invariant: a slot of kind .heap holds a PasHeap.
    let heap = unsafeDowncast(object, to: PasHeap.self)
    guard let pointer else { return heap.cage.contains(0) }
    return heap.contains(pointer)
}

/// `void* pas_heap_clamp(const pas_heap* heap, const void* pointer)`.
@_cdecl("pas_heap_clamp")
public func pas_heap_clamp(_ handle: UnsafeRawPointer?, _ pointer: UnsafeRawPointer?) -> UnsafeMutableRawPointer? {
    guard let heap = generalHeap(handle, "pas_heap_clamp") else { return nil }
    guard let pointer else {
        // NULL has no `UnsafeRawPointer`; the same arithmetic as `PasHeap.clamp` on address 0.
        let cage = heap.cage
        return UnsafeMutableRawPointer(bitPattern: cage.start &+ ((0 &- cage.start) & UInt(cage.byteCount - 1)))
    }
    return heap.clamp(UnsafeMutableRawPointer(mutating: pointer))
}

/// `pas_heap_region pas_heap_region_of(const pas_heap* heap, const void* pointer)`: nothing is recorded.
@_cdecl("pas_heap_region_of")
public func pas_heap_region_of(_ handle: UnsafeRawPointer?, _ pointer: UnsafeRawPointer?) -> UInt32 {
    guard let handle, let pointer, case .success(let object) = HandleTable.lookup(handle, kind: .heap) else {
        return CHeapRegion.foreign.rawValue
    }
    // Invariant: a slot of kind .heap holds a PasHeap.
    let heap = unsafeDowncast(object, to: PasHeap.self)
    return CHeapRegion(heap.region(of: pointer)).rawValue
}

/// `pas_error_code pas_heap_get_statistics(pas_heap* heap, pas_heap_statistics* statistics)`.
@_cdecl("pas_heap_get_statistics")
public func pas_heap_get_statistics(_ handle: UnsafeMutableRawPointer?, _ out: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = generalHeap(handle, "pas_heap_get_statistics") else { return pas_last_error() }
    guard let out else {
        LastError.recordInvalidArgument("pas_heap_get_statistics", "statistics is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    let s = CHeapStatistics(heap.statistics, cageBytes: heap.cage.byteCount)
    // Invariant: out points to a pas_heap_statistics (same layout as CHeapStatistics).
    out.storeBytes(of: s, as: CHeapStatistics.self)
    return PasErrorCode.ok.rawValue
}

/// `pas_error_code pas_heap_scavenge(pas_heap* heap, size_t* decommitted)`.
@_cdecl("pas_heap_scavenge")
public func pas_heap_scavenge(_ handle: UnsafeMutableRawPointer?, _ decommitted: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let heap = generalHeap(handle, "pas_heap_scavenge") else { return pas_last_error() }
    let bytes = heap.decommitEmptyPages()
    decommitted?.pointee = UInt(max(bytes, 0))
    return PasErrorCode.ok.rawValue
}

/// `pas_error_code pas_heap_verify(pas_heap* heap)`.
@_cdecl("pas_heap_verify")
public func pas_heap_verify(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = generalHeap(handle, "pas_heap_verify") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in try heap.verify() }
}
