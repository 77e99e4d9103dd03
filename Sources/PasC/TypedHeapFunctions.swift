import Pas
import PasSystem

// The `pas_typed_heap_*` functions of pas_typed_heap.h. A `pas_typed_heap*` is a
// `HandleTable` handle of a `CTypedHeap` (retained by the table until destroy). Errors from the heap are
// recorded with the heap's label (its name) before the description.

/// The heap behind a handle, or nil with the error recorded: INVALID_ARGUMENT for NULL,
/// INVALID_HANDLE for a destroyed handle or one that is not a `pas_typed_heap*`.
@inline(__always)
func typedHeap(_ handle: UnsafeMutableRawPointer?, _ function: String) -> CTypedHeap? {
    HandleTable.object(handle, kind: .typedHeap, as: CTypedHeap.self, function)
}

/// `pas_typed_heap* pas_typed_heap_create(size_t object_size, size_t alignment, const char* name)`.
@_cdecl("pas_typed_heap_create")
public func pas_typed_heap_create(_ objectSize: UInt, _ alignment: UInt, _ name: UnsafePointer<CChar>?)
    -> UnsafeMutableRawPointer?
{
    // Invariant: a non-NULL name is a NUL-terminated string (copied here).
    let label = name.map { String(cString: $0) }
    let created = LastError.catching(orReturn: nil, context: "pas_typed_heap_create(\"\(label ?? "")\")") {
        () throws(PasError) -> CTypedHeap? in
        try CTypedHeap(
            objectSize: cSize(objectSize), alignment: alignment == 0 ? SizeClasses.minAlign : cSize(alignment),
            name: label)
    }
    guard let heap = created else { return nil }
    guard let handle = HandleTable.insert(heap, kind: .typedHeap) else {
        LastError.record(.outOfMemory(.allocate, requested: 0), context: "pas_typed_heap_create: too many live heap handles")
        return nil
    }
    return handle
}

/// `pas_error_code pas_typed_heap_destroy(pas_typed_heap* heap)`.
@_cdecl("pas_typed_heap_destroy")
public func pas_typed_heap_destroy(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let handle else {
        LastError.recordInvalidArgument("pas_typed_heap_destroy", "heap is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    if case .failure(let problem) = HandleTable.remove(handle, kind: .typedHeap) {
        return HandleTable.report(problem, handle, kind: .typedHeap, "pas_typed_heap_destroy")
    }
    return PasErrorCode.ok.rawValue
}

/// `void* pas_typed_heap_allocate(pas_typed_heap* heap)`.
@_cdecl("pas_typed_heap_allocate")
public func pas_typed_heap_allocate(_ handle: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let heap = typedHeap(handle, "pas_typed_heap_allocate") else { return nil }
    return LastError.catching(orReturn: nil, context: heap.label) { () throws(PasError) in try heap.segregated.allocate() }
}

/// `pas_error_code pas_typed_heap_deallocate(pas_typed_heap* heap, void* object)`.
@_cdecl("pas_typed_heap_deallocate")
public func pas_typed_heap_deallocate(_ handle: UnsafeMutableRawPointer?, _ object: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = typedHeap(handle, "pas_typed_heap_deallocate") else { return pas_last_error() }
    return LastError.status(context: heap.label) { () throws(PasError) in
        guard let object else { throw .unknownPointer(.deallocate, address: 0) }
        try heap.segregated.deallocate(object)
    }
}

/// `pas_error_code pas_typed_heap_get_statistics(pas_typed_heap* heap, pas_typed_heap_statistics* statistics)`.
@_cdecl("pas_typed_heap_get_statistics")
public func pas_typed_heap_get_statistics(_ handle: UnsafeMutableRawPointer?, _ out: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = typedHeap(handle, "pas_typed_heap_get_statistics") else { return pas_last_error() }
    guard let out else {
        LastError.recordInvalidArgument("pas_typed_heap_get_statistics", "statistics is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    // Invariant: out points to a pas_typed_heap_statistics (same layout as CTypedHeapStatistics).
    out.storeBytes(of: heap.statistics, as: CTypedHeapStatistics.self)
    return PasErrorCode.ok.rawValue
}

/// `pas_error_code pas_typed_heap_scavenge(pas_typed_heap* heap, size_t* decommitted)`.
@_cdecl("pas_typed_heap_scavenge")
public func pas_typed_heap_scavenge(_ handle: UnsafeMutableRawPointer?, _ decommitted: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let heap = typedHeap(handle, "pas_typed_heap_scavenge") else { return pas_last_error() }
    return LastError.status(context: heap.label) { () throws(PasError) in
        let bytes = try heap.scavenge()
        decommitted?.pointee = UInt(max(bytes, 0))
    }
}

/// `pas_error_code pas_typed_heap_verify(pas_typed_heap* heap)`.
@_cdecl("pas_typed_heap_verify")
public func pas_typed_heap_verify(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = typedHeap(handle, "pas_typed_heap_verify") else { return pas_last_error() }
    return LastError.status(context: heap.label) { () throws(PasError) in try heap.segregated.verify() }
}
