#if canImport(Glibc)
import Glibc
#endif
import CPasMalloc
import Pas
import PasSystem

// The malloc family, exported under the C names so that a program linked against libc uses
// these when libpasmalloc.so is preloaded (LD_PRELOAD) or linked first.
//
// Ownership rules (documented behaviour for bad input):
// - free(NULL) does nothing.
// - posix_memalign and aligned_alloc take powers of two up to 1 GiB (posix_memalign also
//   multiples of sizeof(void*)); memalign rounds other alignments up to a power of two, as
//   glibc does. Anything larger than 1 GiB (including sizes of 2^63 and more) is EINVAL:
//   returned by posix_memalign, set in errno (with NULL) by memalign and aligned_alloc.
// - A pointer in the heap's cage is the heap's. In the segregated regions (objects up to
//   16 KiB) free is unchecked: a double free before the slot is reused is harmless (the free
//   bit is set twice, or the heap counts it as a late double free and ignores it); a pointer
//   into the middle of an object is detected (one multiply-compare), ignored and counted; a
//   free of any other pointer the heap never returned there is undefined. In the bitfit and large regions free
//   is checked: double, interior and stray frees are ignored and counted.
// - A pointer in the bootstrap arena (allocated while the heap was being created) is never
//   reused: free ignores it.
// - Any other pointer (from ld.so's start-up allocator, another allocator, garbage) is not the
//   library's: free ignores it and counts it (`pas_malloc_ignored_frees`), touching nothing;
//   realloc of it returns NULL with errno ENOMEM; malloc_usable_size returns 0.
//
// Until the heap is published these functions call only C and bind optionals (see
// `MallocState`).

/// `malloc` (the C symbol comes from CPasMalloc, which forwards here).
@_cdecl("pas_malloc_entry")
public func pas_malloc(_ size: Int) -> UnsafeMutableRawPointer? {
    #if DEBUG
    guard pas_malloc_depth_enter() else {
        pas_malloc_depth_leave()
        return pas_malloc_bootstrap_allocate(size, 16)
    }
    defer { pas_malloc_depth_leave() }
    #endif
    if let raw = pas_malloc_heap_get() { return heapMalloc(Unmanaged.fromOpaque(raw), size) }
    return mallocStarting(size, 16)
}

/// `free` (the C symbol comes from CPasMalloc, which forwards here).
@_cdecl("pas_free_entry")
public func pas_free(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    #if DEBUG
    // A nested free (see `pas_malloc_depth`) leaks its block rather than run Swift code.
    guard pas_malloc_depth_enter() else {
        pas_malloc_depth_leave()
        return
    }
    defer { pas_malloc_depth_leave() }
    #endif
    if let raw = pas_malloc_heap_get(), heapFree(Unmanaged.fromOpaque(raw), pointer) { return }
    freeNotOwned(pointer)
}

/// A free of a pointer outside the heap's cage: an auxiliary-heap object is freed there;
/// bootstrap memory is ignored; foreign memory is ignored and counted.
@inline(never)
func freeNotOwned(_ pointer: UnsafeMutableRawPointer) {
    if let aux = auxiliaryHeap(owning: pointer), heapFree(aux, pointer) { return }
    if pas_malloc_bootstrap_contains(pointer) { return }
    pas_malloc_count_foreign_free()
}

/// `void* calloc(size_t nmemb, size_t size)` (stdlib.h): `nmemb * size` bytes, zeroed. An
/// overflowing product returns NULL with errno ENOMEM; otherwise `pas_malloc`'s behaviour.
/// Cost: `pas_malloc` plus a memset of the block (skipped for bootstrap memory, which is
/// fresh). Thread-safe. Public only for the C ABI.
@_cdecl("calloc")
public func pas_calloc(_ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    if count != 0 && UInt(bitPattern: size) > UInt(bitPattern: Int.max) / UInt(bitPattern: count) {
        errno = ENOMEM
        return nil
    }
    let bytes = count &* size
    guard let p = pas_malloc(bytes) else { return nil }
    // Bootstrap memory is fresh (zero); heap memory may have been used before.
    if !pas_malloc_bootstrap_contains(p) { memset(p, 0, bytes) }
    return p
}

/// `void* realloc(void* ptr, size_t size)` (stdlib.h): resizes a block, keeping its first
/// min(old, new) bytes. NULL `ptr` allocates; size 0 frees `ptr` and returns NULL (glibc's
/// behaviour). A bootstrap block is copied into a new block (and never reused); a pointer
/// that is not the library's (and a size of 2^63 or more) returns NULL with errno ENOMEM,
/// `ptr` untouched. Cost: in place when the block has room (or can shrink), else an
/// allocation, a copy and a free. Thread-safe. Public only for the C ABI.
@_cdecl("realloc")
public func pas_realloc(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer? {
    guard let pointer else { return pas_malloc(size) }
    if size == 0 {
        // glibc's behaviour: free and return NULL.
        pas_free(pointer)
        return nil
    }
    if size < 0 {
        errno = ENOMEM
        return nil
    }
    #if DEBUG
    if pas_malloc_nested(), !pas_malloc_bootstrap_contains(pointer) {
        // Nested (see `pas_malloc_depth`): the old size is unknown without Swift code, so
        // `size` bytes are copied (a debug-build fallback for runtime-internal reallocations).
        let moved = pas_malloc_bootstrap_allocate(size, 16)
        if let moved { memcpy(moved, pointer, size) }
        return moved
    }
    #endif
    if let heap = publishedHeap(), heap._withUnsafeGuaranteedRef({ $0.contains(pointer) }) {
        return heapRealloc(heap, pointer, size)
    }
    if let aux = auxiliaryHeap(owning: pointer) { return heapRealloc(aux, pointer, size) }
    if pas_malloc_bootstrap_contains(pointer) {
        let old = pas_malloc_bootstrap_size(pointer)
        guard let moved = pas_malloc(size) else { return nil }
        memcpy(moved, pointer, old < size ? old : size)
        return moved
    }
    errno = ENOMEM
    return nil
}

/// `void* reallocarray(void* ptr, size_t nmemb, size_t size)` (stdlib.h): `realloc` to
/// `nmemb * size` bytes; an overflowing product returns NULL with errno ENOMEM and leaves
/// `ptr` unchanged. Cost: `pas_realloc`'s. Thread-safe. Public only for the C ABI.
@_cdecl("reallocarray")
public func pas_reallocarray(_ pointer: UnsafeMutableRawPointer?, _ count: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    if count != 0 && UInt(bitPattern: size) > UInt(bitPattern: Int.max) / UInt(bitPattern: count) {
        errno = ENOMEM
        return nil
    }
    return pas_realloc(pointer, count &* size)
}

/// Largest alignment the aligned entry points accept (the large heap's limit); a larger one,
/// including any size_t of 2^63 or more (a negative `Int` here), fails with EINVAL.
let maxAlignment = 1 << 30

/// True if `alignment` (a C size_t, bit for bit) is a power of two no larger than `maxAlignment`.
@inline(__always)
func isSupportedAlignment(_ alignment: Int) -> Bool {
    let a = UInt(bitPattern: alignment)
    return a != 0 && a & (a &- 1) == 0 && a <= UInt(maxAlignment)
}

/// Aligned allocation; `alignment` is a power of two.
func alignedAllocate(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    if alignment <= 16 { return pas_malloc(size) }
    #if DEBUG
    guard pas_malloc_depth_enter() else {
        pas_malloc_depth_leave()
        return pas_malloc_bootstrap_allocate(size, alignment)
    }
    defer { pas_malloc_depth_leave() }
    #endif
    if size < 0 {
        errno = ENOMEM
        return nil
    }
    if let heap = publishedHeap() { return heapMallocSlow(heap, size, alignment) }
    return mallocStarting(size, alignment)
}

/// `int posix_memalign(void** memptr, size_t alignment, size_t size)` (stdlib.h): stores a
/// block of `size` bytes aligned to `alignment` in `*memptr` and returns 0. Returns EINVAL
/// for a NULL `memptr` or an alignment that is not a power of two, a multiple of
/// sizeof(void*) and at most 1 GiB; ENOMEM when no memory is left. errno is left unchanged
/// and `*memptr` is written only on success. Cost: `pas_malloc`'s up to alignment 16, else a
/// sub-heap lock. Thread-safe. Public only for the C ABI.
@_cdecl("posix_memalign")
public func pas_posix_memalign(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ alignment: Int, _ size: Int) -> Int32 {
    guard let out else { return EINVAL }
    guard isSupportedAlignment(alignment), alignment % 8 == 0 else { return EINVAL }
    let saved = errno
    guard let p = alignedAllocate(alignment, size) else {
        errno = saved
        return ENOMEM
    }
    out.pointee = p
    return 0
}

/// `void* aligned_alloc(size_t alignment, size_t size)` (stdlib.h): a block of `size` bytes
/// aligned to `alignment`, a power of two up to 1 GiB (any other is NULL with errno EINVAL;
/// `size` need not be a multiple of it). NULL with errno ENOMEM when no memory is left.
/// Cost: `pas_malloc`'s up to alignment 16, else a sub-heap lock. Thread-safe. Public only
/// for the C ABI.
@_cdecl("aligned_alloc")
public func pas_aligned_alloc(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    guard isSupportedAlignment(alignment) else {
        errno = EINVAL
        return nil
    }
    return alignedAllocate(alignment, size)
}

/// `void* memalign(size_t alignment, size_t size)` (malloc.h): like `aligned_alloc`, except
/// that an alignment that is not a power of two is rounded up to the next one, as glibc does.
/// An alignment above 1 GiB (2^63 and more included) is NULL with errno EINVAL. Cost:
/// `pas_malloc`'s up to alignment 16, else a sub-heap lock. Thread-safe. Public only for the
/// C ABI.
@_cdecl("memalign")
public func pas_memalign(_ alignment: Int, _ size: Int) -> UnsafeMutableRawPointer? {
    // Compared as the caller's size_t: 2^63 and above are too large, not small.
    guard UInt(bitPattern: alignment) <= UInt(maxAlignment) else {
        errno = EINVAL
        return nil
    }
    if alignment <= 16 { return pas_malloc(size) }
    // Like glibc: a non-power-of-two alignment is rounded up to the next power of two.
    let align = alignment & (alignment &- 1) == 0 ? alignment : 1 &<< (Int.bitWidth &- alignment.leadingZeroBitCount)
    return alignedAllocate(align, size)
}

/// `void* valloc(size_t size)` (stdlib.h): a block of `size` bytes aligned to 4096 (fixed,
/// not the system's page size); NULL with errno ENOMEM when no memory is left. Cost: a
/// sub-heap lock. Thread-safe. Public only for the C ABI.
@_cdecl("valloc")
public func pas_valloc(_ size: Int) -> UnsafeMutableRawPointer? {
    alignedAllocate(4096, size)
}

/// `void* pvalloc(size_t size)` (malloc.h): `valloc` of `size` rounded up to a multiple of
/// 4096 (size 0 gives one page). A size that cannot be rounded up is NULL with errno ENOMEM.
/// Cost: a sub-heap lock. Thread-safe. Public only for the C ABI.
@_cdecl("pvalloc")
public func pas_pvalloc(_ size: Int) -> UnsafeMutableRawPointer? {
    guard size >= 0, size <= Int.max - 4096 else {
        errno = ENOMEM
        return nil
    }
    return alignedAllocate(4096, size == 0 ? 4096 : (size &+ 4095) & ~4095)
}

/// `size_t malloc_usable_size(void* ptr)` (malloc.h): the bytes usable in the block at `ptr`
/// (at least the size asked for), found in the published heap, the auxiliary heap or the
/// bootstrap arena; 0 for NULL, for a pointer that is not the library's and for a bitfit or
/// large pointer that is not a live block. Cost: a few loads for a segregated block
/// (unchecked, lock-free); a checked lookup in its sub-heap for a larger one (under the large
/// heap's lock there). Thread-safe. Public only for the C ABI.
@_cdecl("malloc_usable_size")
public func pas_malloc_usable_size(_ pointer: UnsafeMutableRawPointer?) -> Int {
    guard let pointer else { return 0 }
    if let heap = publishedHeap() {
        let size = heapUsableSize(heap, pointer)
        if size >= 0 { return size }
    }
    if let aux = auxiliaryHeap(owning: pointer) { return heapUsableSize(aux, pointer) }
    return pas_malloc_bootstrap_size(pointer)
}

/// Gives free memory back to the system; returns 1 if some was released (glibc's contract).
@_cdecl("malloc_trim")
public func pas_malloc_trim(_ pad: Int) -> Int32 {
    pas_scavenge() > 0 ? 1 : 0
}

/// The library's explicit scavenge: flushes the calling thread's cache and decommits every
/// empty page and free large page. Returns the bytes decommitted. Found by pas-bench with
/// dlsym.
@_cdecl("pas_scavenge")
public func pas_scavenge() -> Int {
    maintenance { $0.decommitEmptyPages() } ?? 0
}

/// Frees the library ignored so far: foreign pointers (outside the heap, the auxiliary heap and
/// the bootstrap arena)
/// and checked bitfit/large frees of pointers that were not live objects (double frees).
@_cdecl("pas_malloc_ignored_frees")
public func pas_malloc_ignored_frees() -> Int {
    let outside = pas_malloc_foreign_frees()
    guard let heap = publishedHeap() else { return outside }
    return outside + heap._withUnsafeGuaranteedRef { $0.ignoredFrees }
}

/// Checks the heap's invariants; returns 0 if consistent, -1 otherwise (the problem is printed
/// to stderr).
@_cdecl("pas_malloc_verify")
public func pas_malloc_verify() -> Int32 {
    let problem: PasError?? = maintenance { heap in
        do throws(PasError) { try heap.verify() } catch { return error }
        return nil
    }
    guard let problem, let problem else { return 0 }
    let message = "pasmalloc: verify failed: \(problem)\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    return -1
}
