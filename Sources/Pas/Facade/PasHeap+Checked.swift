import PasSystem

/// The checked API: every bad input is a typed `PasError`, never silent corruption.
/// Segregated objects are checked by their heap's checked paths (a lock and an ownership scan),
/// so these calls cost more than the unchecked fast paths.
extension PasHeap {
    /// Allocates `size` bytes aligned to `alignment` (a power of two; default 16).
    /// Throws `.invalidSize` for `size <= 0` or above `LargeHeap.maxObjectSize`,
    /// `.invalidAlignment` for a bad alignment (not a power of two, above 1 GiB), and
    /// `.outOfMemory` (or the system's error) when the cage region is full. Thread-safe.
    public func allocate(size: Int, alignment: Int = SizeClasses.minAlign) throws(PasError) -> UnsafeMutableRawPointer {
        guard size > 0, size <= LargeHeap<CageChunkSource>.maxObjectSize else { throw .invalidSize(.allocate, size) }
        guard Alignment.isPowerOfTwo(alignment), alignment <= LargeHeap<CageChunkSource>.maxAlignment else {
            throw .invalidAlignment(.allocate, alignment)
        }
        // A full region spills into the next (see the type's note): small into medium, medium
        // and marge into large.
        do throws(PasError) {
            if alignment <= SizeClasses.minAlign {
                switch PasHeap.region(forSize: size) {
                case .small:
                    do throws(PasError) { return try small.allocate(size: size) } catch {
                        guard case .outOfMemory = error else { throw error }
                    }
                    return try medium.allocate(size: size)
                case .medium: return try medium.allocate(size: size)
                case .marge: return try marge.allocate(size: size)
                default: break
                }
            } else if size <= PasHeap.margeLimit, alignment <= PasHeap.margeAlignmentLimit {
                return try marge.allocate(size: size, alignment: alignment)
            }
        } catch {
            guard case .outOfMemory = error else { throw error }
        }
        largeLock.lock()
        defer { largeLock.unlock() }
        return try large.allocate(size: size, alignment: alignment)
    }

    /// Allocation for `alignment` > 16 without throwing (nil on any failure). Thread-safe.
    public func allocateAlignedUnchecked(size: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        try? allocate(size: max(size, 1), alignment: alignment)
    }

    /// Allocates `count * size` bytes (each at least 1), zero-filled. Throws `.invalidSize` if
    /// the product overflows, else as `allocate`. Cost: `allocate` plus a memset. Thread-safe.
    public func allocateZeroed(count: Int, size: Int, alignment: Int = SizeClasses.minAlign) throws(PasError)
        -> UnsafeMutableRawPointer
    {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, count > 0, size > 0 else { throw .invalidSize(.allocate, overflow ? Int.max : bytes) }
        let p = try allocate(size: bytes, alignment: alignment)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return p
    }

    /// Frees the live object at `pointer`. Throws `.unknownPointer` for a pointer outside the
    /// cage or not at the start of a live object, `.doubleFree` for an object already free
    /// (as its building block detects it). Thread-safe.
    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(PasError) {
        switch region(of: pointer) {
        case .small: try small.deallocate(pointer)
        case .medium: try medium.deallocate(pointer)
        case .marge: try marge.deallocate(pointer)
        case .large:
            largeLock.lock()
            defer { largeLock.unlock() }
            try large.deallocate(pointer)
        case .foreign: throw .unknownPointer(.deallocate, address: UInt(bitPattern: pointer))
        }
    }

    /// The usable size of the live object at `pointer` (at least the size asked for).
    /// Throws `.unknownPointer(.sizeQuery, ...)` or `.doubleFree(.sizeQuery, ...)` for pointers
    /// that are not live objects of this heap. Thread-safe.
    public func size(of pointer: UnsafeRawPointer) throws(PasError) -> Int {
        switch region(of: pointer) {
        case .small: return try small.size(of: pointer)
        case .medium: return try medium.size(of: pointer)
        case .marge: return try marge.size(of: pointer)
        case .large:
            largeLock.lock()
            defer { largeLock.unlock() }
            return try large.size(of: pointer)
        case .foreign: throw .unknownPointer(.sizeQuery, address: UInt(bitPattern: pointer))
        }
    }

    /// Resizes the live object at `pointer` to `newSize` bytes, keeping the first
    /// `min(old, new)` bytes. The object stays in place when it already has room and its size
    /// still belongs to the same region (bitfit objects also grow in place when the following
    /// granules are free; large objects shrink in place); otherwise it moves and the old object
    /// is freed. Throws as `size(of:)` for a bad pointer (nothing is freed then) and as
    /// `allocate` for a bad size or no memory (the old object stays live). Thread-safe.
    public func reallocate(_ pointer: UnsafeMutableRawPointer, to newSize: Int) throws(PasError) -> UnsafeMutableRawPointer {
        guard newSize > 0 else { throw .invalidSize(.reallocate, newSize) }
        let oldSize = try size(of: pointer)
        let from = region(of: pointer)
        let to = PasHeap.region(forSize: newSize)
        if from == to {
            switch from {
            case .small, .medium:
                if newSize <= oldSize { return pointer }
            case .marge:
                if try marge.tryReallocateInPlace(pointer, to: newSize) { return pointer }
            case .large:
                if newSize <= oldSize {
                    largeLock.lock()
                    defer { largeLock.unlock() }
                    try large.shrink(pointer, to: newSize)
                    return pointer
                }
            case .foreign: break
            }
        }
        let moved = try allocate(size: newSize)
        moved.copyMemory(from: pointer, byteCount: min(oldSize, newSize))
        try deallocate(pointer)
        return moved
    }

    /// `reallocate` without checks on the old pointer beyond its region (nil on failure, the
    /// old object then stays live). Precondition: `pointer` is a live object of this heap.
    /// Used by the malloc library. Thread-safe.
    public func reallocateUnchecked(_ pointer: UnsafeMutableRawPointer, to newSize: Int) -> UnsafeMutableRawPointer? {
        let size = max(newSize, 1)
        let oldSize = usableSizeUnchecked(of: pointer)
        let from = region(of: pointer)
        if from == PasHeap.region(forSize: size) {
            switch from {
            case .small, .medium:
                if size <= oldSize { return pointer }
            case .marge:
                if (try? marge.tryReallocateInPlace(pointer, to: size)) == true { return pointer }
            case .large:
                if size <= oldSize {
                    largeLock.lock()
                    defer { largeLock.unlock() }
                    if (try? large.shrink(pointer, to: size)) != nil { return pointer }
                }
            case .foreign: return nil
            }
        }
        guard let moved = allocateUnchecked(size: size) else { return nil }
        moved.copyMemory(from: pointer, byteCount: min(oldSize, size))
        deallocateUnchecked(pointer)
        return moved
    }
}
