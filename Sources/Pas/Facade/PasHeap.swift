import PasSystem
import Synchronization

/// The general-purpose heap: one entry point that routes each request to the building block
/// made for its size, all inside one reserved range (the cage).
///
/// Routing (request size `s` in bytes, alignment at most 16):
///
/// | sizes | heap | granule / pages |
/// | --- | --- | --- |
/// | 1 ... 2048 (`smallLimit`) | `SegregatedHeap<SmallPagesConfig>` | size classes, 16 KiB pages |
/// | 2049 ... 16384 (`mediumLimit`) | `SegregatedHeap<MediumPagesConfig>` | size classes, 128 KiB pages |
/// | 16385 ... 655360 (`margeLimit`) | `BitfitHeap<MargeBitfitConfig>` | 4 KiB granules, 4 MiB pages |
/// | above | `LargeHeap` | 4 KiB granules |
///
/// Alignments above 16 go to the bitfit heap when the size fits it and the alignment is at
/// most 4 KiB (its granule), else to the large heap (any power of two up to 1 GiB).
///
/// The cage: the heap reserves one range of `cageBytes` (a power of two; or, when the caller
/// allows a smaller cage with `minimumCageBytes`, a multiple of 64 MiB) and splits it into
/// four regions, one per building block, each drawn on by a `CageChunkSource`. So every object
/// lies in the cage (`contains`, `clamp`), and the owner of a pointer is found by comparing its
/// offset from the cage start with three constants — no lock, no table. Regions: small and
/// medium 1/16 of the cage each, marge 1/4 (at most 256 GiB), large the rest; in a cage smaller
/// than asked for (address space limited), small, medium and marge 1/16 each and large 13/16,
/// since every full region ends up spilling into the large one. A region that is
/// full does not fail a request another region can serve: small requests spill into the
/// medium region (same size classes), medium and marge requests (and aligned ones) into the
/// large region. Frees and size queries go by address, so a spilled object is freed by the
/// heap that holds it; spilling happens only on the slow path of an exhausted region.
///
/// Fast paths (`allocateUnchecked(size:)`, `deallocateUnchecked(_:)`) are the segregated
/// heaps' fast paths plus one or two compares; bitfit and large requests take their heap's
/// lock. The checked API (`allocate`, `deallocate`, `reallocate`, `size(of:)` in
/// `PasHeap+Checked`) reports bad input as `PasError`.
///
/// Thread-safety: every method may be called from any thread. Locks (order): `largeLock`
/// (facade; serialises every call into `large`), the bitfit directory's locks, the segregated
/// heap locks, the registry lock, then the chunk sources' locks. A thread holds at most one
/// heap's lock at a time outside a fork's prepare handler.
///
/// Fork: every building block registers with `ForkRegistry` itself; the facade's own
/// `largeLock` is taken at the `facade` stage, before every heap lock.
public final class PasHeap: @unchecked Sendable {
    /// Largest size served by the small segregated heap.
    @inlinable public static var smallLimit: Int { SmallPagesConfig.maxObjectSize }
    /// Largest size served by the medium segregated heap.
    @inlinable public static var mediumLimit: Int { MediumPagesConfig.maxObjectSize }
    /// Largest size served by the bitfit (marge) heap.
    @inlinable public static var margeLimit: Int { MargeBitfitConfig.maxObjectSize }
    /// Largest alignment the bitfit heap is used for; larger alignments go to the large heap.
    @inlinable public static var margeAlignmentLimit: Int { MargeBitfitConfig.granule }
    /// Granule of the large heap (its objects are page aligned and page sized).
    @inlinable public static var largeGranule: Int { 4096 }
    /// Default cage: 1 TiB of address space (reserved, not committed).
    @inlinable public static var defaultCageBytes: Int { 1 << 40 }
    /// Granule of a cage smaller than asked for (see `init(cageBytes:minimumCageBytes:...)`).
    public static let cageGranule = 64 << 20

    /// The whole reserved range; every object lies in it.
    public let cage: MemoryRange
    @usableFromInline let base: UInt
    /// `cage.byteCount - 1`: the largest offset inside the cage.
    @usableFromInline let cageLast: UInt
    /// The largest power of two not above the cage size, minus 1 (for `clamp`).
    @usableFromInline let cageMask: UInt
    /// Ends of the regions, as offsets from `base`.
    @usableFromInline let smallEnd: UInt
    @usableFromInline let mediumEnd: UInt
    @usableFromInline let margeEnd: UInt

    @usableFromInline let small: SegregatedHeap<SmallPagesConfig, CageChunkSource>
    @usableFromInline let medium: SegregatedHeap<MediumPagesConfig, CageChunkSource>
    @usableFromInline let marge: BitfitHeap<MargeBitfitConfig, CageChunkSource>
    @usableFromInline let large: LargeHeap<CageChunkSource>
    let sources: (CageChunkSource, CageChunkSource, CageChunkSource, CageChunkSource)
    /// Serialises every call into `large` (see the type's lock order); taken before the large
    /// heap's own locks (fork stage `facade`).
    @usableFromInline let largeLock = FutexLock()

    /// Creates a heap in a cage of `cageBytes` (a power of two, at least 64 MiB).
    /// Throws `.invalidSize` for another size and the reservation's or a heap's error: a cage
    /// the address space cannot hold is `.outOfMemory(.reserve, requested: cageBytes)`.
    ///
    /// A smaller cage only when the caller asks for one: with `minimumCageBytes` (a multiple
    /// of `cageGranule`, at least 64 MiB, at most `cageBytes`), a cage that cannot be reserved
    /// is replaced by the largest one that can (found by halving and bisecting, in steps of
    /// `cageGranule`), less 1/16 of it left unreserved for the process's other mappings, but
    /// not below `minimumCageBytes`; `.outOfMemory(.reserve, requested: minimumCageBytes)` if
    /// even that cannot be reserved. `cage.byteCount` tells what was reserved.
    /// Cost: one reservation, a few small metadata mappings; no chunk before first use.
    /// Allocates a handful of Swift objects (the heaps), so a malloc built on it must create
    /// it from bootstrap memory.
    ///
    /// Page sharing: the four heaps report empty pages to `pageSharing` (by default the
    /// process-wide pool, whose scavenger returns pages idle for its delay); `nil` returns pages
    /// only on `decommitEmptyPages(olderThan:)`. A heap given its own `timeSource` joins no pool.
    public init(
        cageBytes: Int = PasHeap.defaultCageBytes, minimumCageBytes: Int? = nil, coldStart: Bool = true,
        timeSource: (any TimeSource)? = nil, pageSharing: PageSharingPool? = .shared
    ) throws(PasError) {
        let pool = timeSource == nil ? pageSharing : nil
        let clock: any TimeSource = timeSource ?? pool?.timeSource ?? MonotonicTimeSource()
        guard Alignment.isPowerOfTwo(cageBytes), cageBytes >= 64 << 20 else { throw .invalidSize(.reserve, cageBytes) }
        let minimum = minimumCageBytes ?? cageBytes
        guard minimum >= 64 << 20, minimum <= cageBytes, minimum % PasHeap.cageGranule == 0 else {
            throw .invalidSize(.reserve, minimum)
        }
        let whole = try PasHeap.reserveCage(cageBytes, minimum: minimum)
        // A shrunken cage favours the region everything spills into (see the type's note).
        let compact = whole.byteCount < cageBytes
        let cageBytes = whole.byteCount
        // Invariant: cageBytes is a multiple of 64 MiB, so every region is a multiple of 4 MiB.
        let smallBytes = cageBytes / 16
        let mediumBytes = smallBytes
        let margeBytes = min(compact ? cageBytes / 16 : cageBytes / 4, MargeBitfitConfig.maxHeapBytes)
        let smallRange = whole.slice(offset: 0, byteCount: smallBytes)
        let mediumRange = whole.slice(offset: smallBytes, byteCount: mediumBytes)
        let margeRange = whole.slice(offset: smallBytes + mediumBytes, byteCount: margeBytes)
        let largeStart = smallBytes + mediumBytes + margeBytes
        let largeRange = whole.slice(offset: largeStart, byteCount: cageBytes - largeStart)
        do {
            sources = (
                try CageChunkSource(slice: smallRange), try CageChunkSource(slice: mediumRange),
                try CageChunkSource(slice: margeRange), try CageChunkSource(slice: largeRange)
            )
            if let pool {
                small = try SegregatedHeap(chunks: sources.0, coldStart: coldStart, pageSharing: pool)
                medium = try SegregatedHeap(chunks: sources.1, coldStart: coldStart, pageSharing: pool)
            } else {
                small = try SegregatedHeap(chunks: sources.0, coldStart: coldStart, timeSource: clock)
                medium = try SegregatedHeap(chunks: sources.1, coldStart: coldStart, timeSource: clock)
            }
        } catch {
            try? VirtualMemory.release(whole)
            throw error
        }
        let margeChunks = sources.2
        if let pool {
            marge = BitfitHeap(chunks: margeChunks, pageSharing: pool)
        } else {
            marge = BitfitHeap(chunks: margeChunks, timeSource: clock)
        }
        large = LargeHeap(chunks: sources.3, granule: PasHeap.largeGranule, chunkSize: 2 << 20, pageSharing: pool)
        cage = whole
        base = whole.start
        cageLast = UInt(cageBytes - 1)
        cageMask = (UInt(1) << UInt(Int.bitWidth - 1 - cageBytes.leadingZeroBitCount)) - 1
        smallEnd = UInt(smallBytes)
        mediumEnd = UInt(smallBytes + mediumBytes)
        margeEnd = UInt(largeStart)
        let context = Unmanaged.passUnretained(self).toOpaque()
        // Invariant: the heaps die with this object, so the unretained context outlives them.
        small.exhaustedFallback = SegregatedExhaustedFallback(context: context) { context, size in
            Unmanaged<PasHeap>.fromOpaque(context).takeUnretainedValue().spill(from: .small, size: size)
        }
        medium.exhaustedFallback = SegregatedExhaustedFallback(context: context) { context, size in
            Unmanaged<PasHeap>.fromOpaque(context).takeUnretainedValue().spill(from: .medium, size: size)
        }
        ForkRegistry.register(self, stage: .facade)
    }

    /// The cage: `bytes` if it can be reserved, else (when `minimum < bytes`) the largest
    /// reservable multiple of `cageGranule` less 1/16, at least `minimum`.
    static func reserveCage(_ bytes: Int, minimum: Int) throws(PasError) -> MemoryRange {
        let alignment = MargeBitfitConfig.chunkSize
        do {
            return try VirtualMemory.reserve(byteCount: bytes, alignment: alignment)
        } catch {
            guard case .outOfMemory = error, minimum < bytes else { throw error }
        }
        // Two rounds: another thread may take address space between the probe and the reserve.
        for _ in 0 ..< 2 {
            let largest = VirtualMemory.largestReservable(upTo: bytes, granule: cageGranule, alignment: alignment)
            guard largest >= minimum else { break }
            let leave = largest / 16 - (largest / 16) % cageGranule
            let size = max(largest - leave, minimum)
            if let range = try? VirtualMemory.reserve(byteCount: size, alignment: alignment) { return range }
        }
        throw .outOfMemory(.reserve, requested: minimum)
    }

    /// A request of `size` bytes whose own region (`region`: small or medium) is exhausted:
    /// small spills into medium (same size classes), medium into large. Nil if none has room.
    /// Slow path: called by the segregated heaps' refill when it failed.
    func spill(from region: Region, size: Int) -> UnsafeMutableRawPointer? {
        if region == .small, let p = medium.allocateUnchecked(size: size) { return p }
        return allocateLargeSpill(size: size, alignment: SizeClasses.minAlign)
    }

    /// The large region's share of a spill: any size, any alignment up to 1 GiB.
    func allocateLargeSpill(size: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        largeLock.lock()
        defer { largeLock.unlock() }
        return try? large.allocate(size: size, alignment: alignment)
    }

    deinit {
        ForkRegistry.unregister(self, stage: .facade)
        // The heaps die after this body; their deinitialisers only unmap their own metadata
        // and never touch chunk memory, so the cage can go first.
        try? VirtualMemory.release(cage)
    }

    /// Which building block owns an address.
    public enum Region: Sendable, Equatable {
        /// The small segregated heap's region (objects up to `smallLimit`).
        case small
        /// The medium segregated heap's region (objects up to `mediumLimit`, and small ones
        /// spilled from a full small region).
        case medium
        /// The bitfit heap's region (objects up to `margeLimit`).
        case marge
        /// The large heap's region (larger and aligned objects, and spills from the others).
        case large
        /// Not in the cage.
        case foreign
    }

    /// The region `pointer` lies in (by address only; says nothing about liveness).
    /// Cost: a subtraction and up to four compares.
    @inlinable @inline(__always)
    public func region(of pointer: UnsafeRawPointer) -> Region {
        let offset = UInt(bitPattern: pointer) &- base
        if offset < smallEnd { return .small }
        if offset < mediumEnd { return .medium }
        if offset < margeEnd { return .marge }
        return offset <= cageLast ? .large : .foreign
    }

    /// True if `pointer` lies in the cage. Cost: two instructions.
    @inlinable @inline(__always)
    public func contains(_ pointer: UnsafeRawPointer) -> Bool { UInt(bitPattern: pointer) &- base <= cageLast }

    /// `pointer` forced into the cage: unchanged for pointers inside; for others, the offset
    /// from the cage start masked by the largest power of two not above the cage size (the
    /// cage size itself for a power-of-two cage). Cost: about five instructions.
    @inlinable @inline(__always)
    public func clamp(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let offset = UInt(bitPattern: pointer) &- base
        // Invariant: base is non-zero, so the result is too.
        return UnsafeMutableRawPointer(bitPattern: base &+ (offset <= cageLast ? offset : offset & cageMask)).unsafelyUnwrapped
    }

    /// The region a request of `size` bytes (alignment at most 16) is served from.
    /// `size` must be at least 1.
    @inlinable @inline(__always)
    public static func region(forSize size: Int) -> Region {
        if size <= smallLimit { return .small }
        if size <= mediumLimit { return .medium }
        if size <= margeLimit { return .marge }
        return .large
    }

    // MARK: fast paths

    /// Allocates `size` bytes (at least 1), 16-byte aligned; nil on failure (bad size, no
    /// memory). Cost for sizes up to `mediumLimit` when the thread's allocator has a free
    /// slot: the segregated fast path plus one compare — no lock, no atomic, no call.
    /// Thread-safe.
    @inlinable @inline(__always)
    public func allocateUnchecked(size: Int) -> UnsafeMutableRawPointer? {
        if _fastPath(UInt(bitPattern: size &- 1) < UInt(PasHeap.smallLimit)) {
            return small.allocateUnchecked(size: size)
        }
        return pasHeapAllocateBeyondSmall(self, size: size)
    }

    /// Frees `pointer` if it lies in the cage and returns true; returns false (and touches
    /// nothing) for a pointer outside the cage. Preconditions for pointers in the segregated
    /// regions (unchecked): a live object of this heap, or a pointer into one (an interior
    /// pointer is ignored and counted). Bitfit and large frees are checked; a bad pointer
    /// there is ignored and counted (`ignoredFrees`).
    /// Cost for segregated objects whose page the thread owns: the segregated fast path plus
    /// two compares. Thread-safe.
    @inlinable @inline(__always)
    @discardableResult
    public func deallocateUnchecked(_ pointer: UnsafeMutableRawPointer) -> Bool {
        let offset = UInt(bitPattern: pointer) &- base
        if _fastPath(offset < smallEnd) {
            small.deallocateUnchecked(pointer)
            return true
        }
        return pasHeapDeallocateBeyondSmall(self, pointer, offset: offset)
    }

    /// Usable size of the live object at `pointer` (unchecked for segregated objects; checked,
    /// 0 for a bad pointer, in the bitfit and large regions; 0 outside the cage).
    /// Thread-safe.
    public func usableSizeUnchecked(of pointer: UnsafeRawPointer) -> Int {
        switch region(of: pointer) {
        case .small: return small.sizeUnchecked(of: pointer)
        case .medium: return medium.sizeUnchecked(of: pointer)
        case .marge: return (try? marge.size(of: pointer)) ?? 0
        case .large:
            largeLock.lock()
            defer { largeLock.unlock() }
            return (try? large.size(of: pointer)) ?? 0
        case .foreign: return 0
        }
    }

    /// Frees ignored by `deallocateUnchecked`: bitfit or large pointers that were not live
    /// objects (double frees, interior or stray pointers), and segregated pointers that were
    /// not the start of an object (interior pointers).
    public var ignoredFrees: Int {
        ignoredFreeCount.load(ordering: .relaxed) + small.ignoredFrees + medium.ignoredFrees
    }
    let ignoredFreeCount = Atomic<Int>(0)

    // MARK: out of line

    /// Medium, marge and large allocation with alignment at most 16; nil on failure.
    @usableFromInline
    func allocateBeyondSmall(size: Int) -> UnsafeMutableRawPointer? {
        guard size > 0 else { return nil }
        if size <= PasHeap.mediumLimit { return medium.allocateUnchecked(size: size) }
        if size <= PasHeap.margeLimit {
            if let p = try? marge.allocate(size: size) { return p }
            return allocateLargeSpill(size: size, alignment: SizeClasses.minAlign)
        }
        largeLock.lock()
        defer { largeLock.unlock() }
        return try? large.allocate(size: size)
    }

    @usableFromInline
    func deallocateBeyondSmall(_ pointer: UnsafeMutableRawPointer, offset: UInt) -> Bool {
        if offset < mediumEnd {
            medium.deallocateUnchecked(pointer)
            return true
        }
        if offset < margeEnd {
            if (try? marge.deallocate(pointer)) == nil { ignoredFreeCount.add(1, ordering: .relaxed) }
            return true
        }
        guard offset <= cageLast else { return false }
        largeLock.lock()
        let ok = (try? large.deallocate(pointer)) != nil
        largeLock.unlock()
        if !ok { ignoredFreeCount.add(1, ordering: .relaxed) }
        return true
    }
}

// Out-of-line halves as free functions so that the inlined fast paths pass `self` as an
// ordinary argument and end in a tail call.

@usableFromInline @inline(never)
func pasHeapAllocateBeyondSmall(_ heap: PasHeap, size: Int) -> UnsafeMutableRawPointer? {
    heap.allocateBeyondSmall(size: size)
}

@usableFromInline @inline(never)
func pasHeapDeallocateBeyondSmall(_ heap: PasHeap, _ pointer: UnsafeMutableRawPointer, offset: UInt) -> Bool {
    heap.deallocateBeyondSmall(pointer, offset: offset)
}
