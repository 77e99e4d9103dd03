/// A thread's allocator for one size class of one heap: 32 bytes inside its thread cache.
///
/// It owns at most one page (`page`, a header address). `word` holds the free slots of the
/// current 64-slot window of that page, `base` the address of the window's slot 0. Allocation pops
/// the lowest set bit: `base + ctz(word) * objectSize`. When `word` runs dry the slow path takes
/// the next non-empty word of the page's owner-free bitmap, then remote frees, then another page.
///
/// Zero-filled memory is a valid empty allocator (`word == 0` sends every call to the slow
/// path), so a fresh thread cache needs no initialisation. Only the owning thread touches it,
/// except at thread exit when the exiting thread itself returns its pages.
@usableFromInline
struct LocalAllocator {
    @usableFromInline var word: UInt64
    @usableFromInline var base: UInt
    @usableFromInline var objectSize: UInt32
    /// Odd while the owner refills the window without the lock (`takeOwnerFreeWord`); lets
    /// another thread read `base` and `word` consistently (a sequence lock, owner-written).
    @usableFromInline var sequence: UInt32
    @usableFromInline var page: UInt

    @inlinable @inline(__always)
    init(word: UInt64, base: UInt, objectSize: Int, page: UInt) {
        self.word = word
        self.base = base
        self.objectSize = UInt32(truncatingIfNeeded: objectSize)
        self.sequence = 0
        self.page = page
    }

    @usableFromInline static let stride = 32
    @usableFromInline static let strideShift = 5
}
