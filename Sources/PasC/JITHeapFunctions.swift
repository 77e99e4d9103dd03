import PasJIT
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

// The `pas_jit_heap_*` functions of pas_jit_heap.h. A `pas_jit_heap*` is a `HandleTable`
// handle of a `JITHeap` (retained by the table until destroy); the process-wide heap's
// handle is made once and never destroyed.
// Every function records failures with `LastError` and returns the documented failure value.
// Cost and thread-safety are those of the `JITHeap` method each one calls (pas_jit_heap.h
// states them for C callers).

/// The heap behind a handle, or nil with the error recorded: INVALID_ARGUMENT for NULL,
/// INVALID_HANDLE for a destroyed handle or one that is not a `pas_jit_heap*`.
@inline(__always)
func jitHeap(_ handle: UnsafeMutableRawPointer?, _ function: String) -> JITHeap? {
    HandleTable.object(handle, kind: .jitHeap, as: JITHeap.self, function)
}

/// A C `size_t` as a Swift size, bit for bit: sizes above `Int.max` become negative, which
/// every heap refuses, and `PasError.cDescription` prints them back as the caller's value.
@inline(__always)
func cSize(_ size: UInt) -> Int { Int(bitPattern: size) }

/// `void pas_jit_heap_options_init(pas_jit_heap_options* options)`.
@_cdecl("pas_jit_heap_options_init")
public func pas_jit_heap_options_init(_ options: UnsafeMutableRawPointer?) {
    // Invariant: a non-NULL options points to a pas_jit_heap_options (same layout as CJITHeapOptions).
    options?.storeBytes(of: CJITHeapOptions(), as: CJITHeapOptions.self)
}

/// `pas_jit_heap* pas_jit_heap_create(const pas_jit_heap_options* options)`.
@_cdecl("pas_jit_heap_create")
public func pas_jit_heap_create(_ options: UnsafeRawPointer?) -> UnsafeMutableRawPointer? {
    // Invariant: a non-NULL options points to a pas_jit_heap_options; read unaligned to be lenient.
    let cOptions = options?.loadUnaligned(as: CJITHeapOptions.self) ?? CJITHeapOptions()
    let swiftOptions: JITHeap.Options
    switch cOptions.jitOptions() {
    case .success(let o): swiftOptions = o
    case .failure(let problem):
        LastError.recordInvalidArgument("pas_jit_heap_create", problem.reason)
        return nil
    }
    let created = LastError.catching(orReturn: nil) { () throws(PasError) -> JITHeap? in try JITHeap(options: swiftOptions) }
    guard let heap = created else { return nil }
    guard let handle = HandleTable.insert(heap, kind: .jitHeap) else {
        LastError.record(.outOfMemory(.allocate, requested: 0), context: "pas_jit_heap_create: too many live heap handles")
        return nil
    }
    return handle
}

/// `pas_error_code pas_jit_heap_destroy(pas_jit_heap* heap)`.
@_cdecl("pas_jit_heap_destroy")
public func pas_jit_heap_destroy(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let handle else {
        LastError.recordInvalidArgument("pas_jit_heap_destroy", "heap is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    if let process = ProcessJITHeap.handle, handle == process {
        LastError.recordInvalidArgument("pas_jit_heap_destroy", "the process-wide heap cannot be destroyed")
        return PasErrorCode.invalidArgument.rawValue
    }
    if case .failure(let problem) = HandleTable.remove(handle, kind: .jitHeap) {
        return HandleTable.report(problem, handle, kind: .jitHeap, "pas_jit_heap_destroy")
    }
    return PasErrorCode.ok.rawValue
}

/// `pas_error_code pas_jit_heap_add_fresh_memory(heap, executable, size, writable, mode)`.
@_cdecl("pas_jit_heap_add_fresh_memory")
public func pas_jit_heap_add_fresh_memory(
    _ handle: UnsafeMutableRawPointer?, _ executable: UnsafeMutableRawPointer?,
    _ size: UInt, _ writable: UnsafeMutableRawPointer?, _ mode: UInt32
) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_add_fresh_memory") else { return pas_last_error() }
    guard let cMode = CProtectionMode(rawValue: mode) else {
        LastError.recordInvalidArgument("pas_jit_heap_add_fresh_memory", "unknown protection mode \(mode)")
        return PasErrorCode.invalidArgument.rawValue
    }
    if writable == nil, cMode == .dualMapped {
        LastError.recordInvalidArgument("pas_jit_heap_add_fresh_memory", "dual-mapped memory needs its writable view")
        return PasErrorCode.invalidArgument.rawValue
    }
    return LastError.status { () throws(PasError) in
        let range = MemoryRange(start: UInt(bitPattern: executable), byteCount: cSize(size))
        try heap.addFreshMemory(executable: range, writable: writable, mode: cMode.mode ?? .rwx)
    }
}

/// `void* pas_jit_heap_allocate(pas_jit_heap* heap, size_t size, size_t alignment)`.
@_cdecl("pas_jit_heap_allocate")
public func pas_jit_heap_allocate(_ handle: UnsafeMutableRawPointer?, _ size: UInt, _ alignment: UInt) -> UnsafeMutableRawPointer?
{
    guard let heap = jitHeap(handle, "pas_jit_heap_allocate") else { return nil }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        let block = try heap.allocate(size: cSize(size), alignment: alignment == 0 ? 16 : cSize(alignment))
        return UnsafeMutableRawPointer(bitPattern: block.address)
    }
}

/// `void* pas_jit_heap_install(pas_jit_heap* heap, const void* bytes, size_t count, size_t alignment)`.
@_cdecl("pas_jit_heap_install")
public func pas_jit_heap_install(
    _ handle: UnsafeMutableRawPointer?, _ bytes: UnsafeRawPointer?, _ count: UInt,
    _ alignment: UInt
) -> UnsafeMutableRawPointer? {
    guard let heap = jitHeap(handle, "pas_jit_heap_install") else { return nil }
    guard let bytes, count > 0, count <= UInt(Int.max) else {
        LastError.recordInvalidArgument("pas_jit_heap_install", "bytes is NULL or count is 0")
        return nil
    }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        // Invariant: bytes points to count readable bytes (the caller's promise); install does not keep them.
        let block = try heap.install(
            UnsafeRawBufferPointer(start: bytes, count: Int(count)),
            alignment: alignment == 0 ? 16 : cSize(alignment))
        return UnsafeMutableRawPointer(bitPattern: block.address)
    }
}

/// `pas_error_code pas_jit_heap_deallocate(pas_jit_heap* heap, void* block)`.
@_cdecl("pas_jit_heap_deallocate")
public func pas_jit_heap_deallocate(_ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_deallocate") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in try heap.deallocate(CodeBlock(address: UInt(bitPattern: block))) }
}

/// `pas_error_code pas_jit_heap_shrink(pas_jit_heap* heap, void* block, size_t new_size)`.
@_cdecl("pas_jit_heap_shrink")
public func pas_jit_heap_shrink(_ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?, _ newSize: UInt) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_shrink") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in
        try heap.shrink(CodeBlock(address: UInt(bitPattern: block)), to: cSize(newSize))
    }
}

/// `size_t pas_jit_heap_get_size(pas_jit_heap* heap, const void* block)`.
@_cdecl("pas_jit_heap_get_size")
public func pas_jit_heap_get_size(_ handle: UnsafeMutableRawPointer?, _ block: UnsafeRawPointer?) -> UInt {
    guard let heap = jitHeap(handle, "pas_jit_heap_get_size") else { return 0 }
    return LastError.catching(orReturn: 0) { () throws(PasError) in
        UInt(try heap.size(of: CodeBlock(address: UInt(bitPattern: block))))
    }
}

/// `pas_error_code pas_jit_heap_write(heap, block, offset, bytes, count)`.
@_cdecl("pas_jit_heap_write")
public func pas_jit_heap_write(
    _ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?, _ offset: UInt,
    _ bytes: UnsafeRawPointer?, _ count: UInt
) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_write") else { return pas_last_error() }
    if bytes == nil, count > 0 {
        LastError.recordInvalidArgument("pas_jit_heap_write", "bytes is NULL with count \(count)")
        return PasErrorCode.invalidArgument.rawValue
    }
    let codeBlock = CodeBlock(address: UInt(bitPattern: block))
    return LastError.status { () throws(PasError) in
        guard count <= UInt(Int.max), offset <= UInt(Int.max) else {
            throw .outOfBounds(.write, address: codeBlock.address &+ offset, byteCount: cSize(count))
        }
        // Invariant: bytes points to count readable bytes (the caller's promise); copy does not keep them.
        try heap.copy(UnsafeRawBufferPointer(start: bytes, count: Int(count)), into: codeBlock, at: Int(offset))
    }
}

/// `pas_error_code pas_jit_heap_with_writable_bytes(heap, block, function, context)`.
@_cdecl("pas_jit_heap_with_writable_bytes")
public func pas_jit_heap_with_writable_bytes(
    _ handle: UnsafeMutableRawPointer?, _ block: UnsafeMutableRawPointer?,
    _ function: (@convention(c) (UnsafeMutableRawPointer?, UInt, UnsafeMutableRawPointer?) -> Void)?,
    _ context: UnsafeMutableRawPointer?
) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_with_writable_bytes") else { return pas_last_error() }
    guard let function else {
        LastError.recordInvalidArgument("pas_jit_heap_with_writable_bytes", "function is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    return LastError.status { () throws(PasError) in
        try heap.withWritableBytes(of: CodeBlock(address: UInt(bitPattern: block))) { buffer in
            function(buffer.baseAddress, UInt(buffer.count), context)
        }
    }
}

/// `bool pas_jit_heap_contains(pas_jit_heap* heap, const void* pc)`. Records nothing.
@_cdecl("pas_jit_heap_contains")
public func pas_jit_heap_contains(_ handle: UnsafeMutableRawPointer?, _ pc: UnsafeRawPointer?) -> Bool {
    guard let handle, case .success(let object) = HandleTable.lookup(handle, kind: .jitHeap) else { return false }
    // Invariant: a slot of kind .jitHeap holds a JITHeap.
    return unsafeDowncast(object, to: JITHeap.self).contains(UInt(bitPattern: pc))
}

/// `pas_jit_protection_mode pas_jit_heap_protection_mode(pas_jit_heap* heap)`.
@_cdecl("pas_jit_heap_protection_mode")
public func pas_jit_heap_protection_mode(_ handle: UnsafeMutableRawPointer?) -> UInt32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_protection_mode") else { return CProtectionMode.none.rawValue }
    return CProtectionMode(heap.protectionMode).rawValue
}

/// `pas_error_code pas_jit_heap_get_statistics(pas_jit_heap* heap, pas_jit_heap_statistics* out)`.
@_cdecl("pas_jit_heap_get_statistics")
public func pas_jit_heap_get_statistics(_ handle: UnsafeMutableRawPointer?, _ out: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_get_statistics") else { return pas_last_error() }
    guard let out else {
        LastError.recordInvalidArgument("pas_jit_heap_get_statistics", "statistics is NULL")
        return PasErrorCode.invalidArgument.rawValue
    }
    // Invariant: out points to a pas_jit_heap_statistics (same layout as CJITHeapStatistics).
    out.storeBytes(of: CJITHeapStatistics(heap.statistics), as: CJITHeapStatistics.self)
    return PasErrorCode.ok.rawValue
}

/// `pas_error_code pas_jit_heap_scavenge(pas_jit_heap* heap, size_t* decommitted)`.
@_cdecl("pas_jit_heap_scavenge")
public func pas_jit_heap_scavenge(_ handle: UnsafeMutableRawPointer?, _ decommitted: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_scavenge") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in
        let bytes = try heap.decommitEmptyPages()
        decommitted?.pointee = UInt(bytes)
    }
}

/// `pas_error_code pas_jit_heap_verify(pas_jit_heap* heap)`.
@_cdecl("pas_jit_heap_verify")
public func pas_jit_heap_verify(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let heap = jitHeap(handle, "pas_jit_heap_verify") else { return pas_last_error() }
    return LastError.status { () throws(PasError) in try heap.verify() }
}
