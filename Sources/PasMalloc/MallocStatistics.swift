import Pas

/// The malloc heap's counters, for programs (and tests) that want to see that Pas served
/// their allocations: `size_t pas_malloc_statistics(uint64_t* values, size_t count)` writes
/// up to `count` of, in this order,
///   0 live bytes, 1 segregated objects in use (small + medium, thread caches included),
///   2 bitfit objects, 3 large objects, 4 committed bytes (all four heaps),
///   5 ignored frees (`pas_malloc_ignored_frees`),
/// and returns how many values the library has (6), or 0 before the heap exists. Found with
/// dlsym. Takes each heap's lock in turn (a maintenance call: this thread's allocations go to
/// the auxiliary heap meanwhile). Thread-safe.
@_cdecl("pas_malloc_statistics")
public func pas_malloc_statistics(_ values: UnsafeMutablePointer<UInt64>?, _ count: Int) -> Int {
    guard let s = maintenance({ $0.statistics }) else { return 0 }
    let all: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (
        UInt64(s.liveBytes),
        UInt64(s.small.objectsInUse + s.medium.objectsInUse),
        UInt64(s.marge.objectCount),
        UInt64(s.large.objectCount),
        UInt64(s.small.committedPageBytes + s.medium.committedPageBytes + s.marge.committedBytes + s.large.committedBytes),
        UInt64(pas_malloc_ignored_frees())
    )
    guard let values else { return 6 }
    // Invariant: the caller's buffer holds `count` values; at most that many are written.
    withUnsafeBytes(of: all) { bytes in
        for i in 0 ..< min(count, 6) { values[i] = bytes.load(fromByteOffset: i * 8, as: UInt64.self) }
    }
    return 6
}
