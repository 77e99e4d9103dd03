import PasJIT
import PasSystem

/// The process-wide JIT heap behind libpas's `jit_heap_*` names (jit_heap.h).
///
/// Like libpas's jit heap it reserves nothing and allocates only from memory the runtime
/// donates with `jit_heap_add_fresh_memory`; it is added in `.rwx` mode (there is no
/// writable alias in that API) after a check that it is mapped anonymous memory or a memory
/// file and not a stack. The runtime writes its code itself, so freed code is left as it is
/// (`FillPattern.none`); the heap manages the range's protection like any code region: pages
/// it has not committed are inaccessible, and committed ones are trap-filled, then RWX.
enum ProcessJITHeap {
    /// Created on first use (Swift globals initialise exactly once, thread-safely). Nil only
    /// if creating the heap object failed, which without a region reservation it does not.
    static let heap: JITHeap? = try? JITHeap(
        options: .init(
            protectionModes: [.rwx], fillPattern: .none,
            reservesRegion: false))

    /// The heap's C handle, made once (never destroyed: `pas_jit_heap_destroy` refuses it).
    nonisolated(unsafe) static let handle: UnsafeMutableRawPointer? = heap.flatMap { HandleTable.insert($0, kind: .jitHeap) }

    /// The heap, or nil with UNSUPPORTED recorded.
    @inline(__always)
    static func get(_ function: String) -> JITHeap? {
        if let heap { return heap }
        LastError.record(.unsupported(.allocate, reason: "\(function): the process-wide JIT heap could not be created"))
        return nil
    }
}

/// `pas_jit_heap* pas_jit_heap_process_heap(void)`: the process-wide heap's handle.
@_cdecl("pas_jit_heap_process_heap")
public func pas_jit_heap_process_heap() -> UnsafeMutableRawPointer? {
    guard ProcessJITHeap.get("pas_jit_heap_process_heap") != nil else { return nil }
    guard let handle = ProcessJITHeap.handle else {
        LastError.record(.unsupported(.allocate, reason: "pas_jit_heap_process_heap: no handle slot left"))
        return nil
    }
    return handle
}

/// `void jit_heap_add_fresh_memory(pas_range range)`.
///
/// `pas_range` is two `uintptr_t`s passed by value. On x86-64 (System V) and arm64 (AAPCS64)
/// a 16-byte struct of two integer fields travels in two consecutive integer registers,
/// exactly like two `uintptr_t` arguments, so `begin` and `end` are taken as such.
@_cdecl("jit_heap_add_fresh_memory")
public func jit_heap_add_fresh_memory(_ begin: UInt, _ end: UInt) {
    #if !(arch(x86_64) || arch(arm64))
    #error("jit_heap_add_fresh_memory: pas_range passing is only known for x86-64 and arm64")
    #endif
    guard let heap = ProcessJITHeap.get("jit_heap_add_fresh_memory") else { return }
    guard end > begin else {
        LastError.record(.invalidSize(.reserve, Int(bitPattern: end &- begin)))
        return
    }
    LastError.catching(orReturn: ()) { () throws(PasError) in
        try heap.addFreshMemory(
            executable: MemoryRange(start: begin, byteCount: cSize(end - begin)),
            writable: nil, mode: .rwx)
    }
}

/// `void* jit_heap_try_allocate(size_t size)`: NULL when the donated memory cannot hold it.
/// Size 0 gives a block of the smallest size, as in libpas.
@_cdecl("jit_heap_try_allocate")
public func jit_heap_try_allocate(_ size: UInt) -> UnsafeMutableRawPointer? {
    guard let heap = ProcessJITHeap.get("jit_heap_try_allocate") else { return nil }
    return LastError.catching(orReturn: nil) { () throws(PasError) in
        let block = try heap.allocate(size: size == 0 ? 1 : cSize(size))
        return UnsafeMutableRawPointer(bitPattern: block.address)
    }
}

/// `void jit_heap_shrink(void* object, size_t new_size)`.
@_cdecl("jit_heap_shrink")
public func jit_heap_shrink(_ object: UnsafeMutableRawPointer?, _ newSize: UInt) {
    guard let heap = ProcessJITHeap.get("jit_heap_shrink") else { return }
    LastError.catching(orReturn: ()) { () throws(PasError) in
        try heap.shrink(CodeBlock(address: UInt(bitPattern: object)), to: cSize(newSize))
    }
}

/// `size_t jit_heap_get_size(void* object)`: 0 for a pointer that is not a live block.
@_cdecl("jit_heap_get_size")
public func jit_heap_get_size(_ object: UnsafeMutableRawPointer?) -> UInt {
    guard let heap = ProcessJITHeap.get("jit_heap_get_size") else { return 0 }
    return LastError.catching(orReturn: 0) { () throws(PasError) in
        UInt(try heap.size(of: CodeBlock(address: UInt(bitPattern: object))))
    }
}

/// `void jit_heap_deallocate(void* object)`.
@_cdecl("jit_heap_deallocate")
public func jit_heap_deallocate(_ object: UnsafeMutableRawPointer?) {
    guard let heap = ProcessJITHeap.get("jit_heap_deallocate") else { return }
    LastError.catching(orReturn: ()) { () throws(PasError) in try heap.deallocate(CodeBlock(address: UInt(bitPattern: object))) }
}
