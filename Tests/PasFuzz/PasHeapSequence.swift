import Pas
import PasSystem

/// Interprets fuzz input as a sequence of calls on a `PasHeap`, either through its checked
/// API (`allocate`, `allocateZeroed`, `reallocate`, `deallocate`, `size(of:)`: every bad
/// pointer must be a typed error) or through the unchecked paths the malloc library calls
/// (`allocateUnchecked`, `allocateAlignedUnchecked`, `reallocateUnchecked`,
/// `deallocateUnchecked`, `usableSizeUnchecked`: bad frees outside the segregated regions are
/// ignored and counted, foreign ones refused). Checked against the shadow model, with
/// `verify()` after every step. Not thread-safe: one sequence drives its heap alone.
public struct PasHeapSequence {
    /// The API a sequence calls: the checked methods or the unchecked malloc paths.
    public enum Paths: String, Sendable { case checked, malloc }

    /// The heap the sequence drives.
    public let heap: PasHeap
    /// Which API the sequence calls.
    public let paths: Paths
    /// The model of the blocks the heap should hold now.
    public private(set) var shadow = ShadowBlocks()
    /// Steps run so far (`finish` counts as one); failures report it.
    public private(set) var step = 0

    /// A sequence on `heap` through `paths`. `heap` must be empty: its bitfit and large
    /// object counts are compared with the shadow's.
    public init(heap: PasHeap, paths: Paths) {
        self.heap = heap
        self.paths = paths
    }

    /// A heap for sequences: a 4 GiB cage, no page-sharing pool (pages are returned only by
    /// the sequence's scavenge steps).
    public static func makeHeap() throws(PasError) -> PasHeap {
        try PasHeap(cageBytes: 1 << 32, pageSharing: nil)
    }

    /// Runs steps until the input ends or `maxSteps` steps ran.
    public mutating func run(_ input: inout FuzzInput, maxSteps: Int) throws(FuzzFailure) {
        while !input.isExhausted && step < maxSteps {
            step += 1
            try perform(&input)
            try check("verify") { () throws(PasError) in try heap.verify() }
        }
    }

    /// Frees every live block (checking its contents), then checks that the bitfit and large
    /// heaps hold no object.
    public mutating func finish() throws(FuzzFailure) {
        step += 1
        while !shadow.live.isEmpty { try free(at: shadow.live.count - 1) }
        heap.flushThreadCache()
        // Empty pages back to the system, so that many inputs on one heap keep memory bounded.
        _ = heap.decommitEmptyPages()
        try check("verify") { () throws(PasError) in try heap.verify() }
        try checkCounts("finish")
    }

    func failure(_ operation: String, _ problem: String) -> FuzzFailure {
        FuzzFailure(step: step, operation: operation, problem: problem)
    }

    func check<R>(_ operation: String, _ body: () throws(PasError) -> R) throws(FuzzFailure) -> R {
        do throws(PasError) { return try body() } catch { throw failure(operation, "unexpected \(error)") }
    }

    func expectError(_ operation: String, _ expected: (PasError) -> Bool, _ body: () throws(PasError) -> Void) throws(FuzzFailure)
    {
        do throws(PasError) {
            try body()
        } catch {
            if expected(error) { return }
            throw failure(operation, "wrong error \(error)")
        }
        throw failure(operation, "no error")
    }

    static func hex(_ address: UInt) -> String { "0x" + String(address, radix: 16) }

    /// Bitfit and large object counts against the shadow's (segregated counts include the
    /// thread caches, so they are not compared).
    func checkCounts(_ operation: String) throws(FuzzFailure) {
        let s = heap.statistics
        let marge = shadow.live.filter { heap.region(of: UnsafeRawPointer(bitPattern: $0.address)!) == .marge }.count
        let large = shadow.live.filter { heap.region(of: UnsafeRawPointer(bitPattern: $0.address)!) == .large }.count
        guard s.marge.objectCount == marge, s.large.objectCount == large else {
            throw failure(
                operation,
                "marge \(s.marge.objectCount) objects (shadow \(marge)), large \(s.large.objectCount) (shadow \(large))")
        }
    }

    mutating func perform(_ input: inout FuzzInput) throws(FuzzFailure) {
        switch input.byte() % 10 {
        case 0, 1, 2: try allocate(&input)
        case 3, 4:
            if !shadow.live.isEmpty { try free(at: input.below(shadow.live.count)) }
        case 5: try reallocate(&input)
        case 6:
            if input.byte() & 1 == 0 { _ = heap.decommitEmptyPages() } else { heap.flushThreadCache() }
            for block in shadow.live { try ShadowBlocks.check(block, step: step, "scavenge") }
        case 7, 8: try badCall(&input)
        default:
            try query(&input)
            try checkCounts("statistics")
        }
    }

    /// Checks a new block (alignment, usable size, region, no overlap), fills it with a tag
    /// and adds it to the shadow.
    mutating func adopt(_ p: UnsafeMutableRawPointer, size: Int, alignment: Int, _ operation: String) throws(FuzzFailure) {
        let address = UInt(bitPattern: p)
        guard address % UInt(max(alignment, 16)) == 0 else { throw failure(operation, "misaligned \(Self.hex(address))") }
        guard heap.contains(p) else { throw failure(operation, "\(Self.hex(address)) outside the cage") }
        if alignment <= 16, heap.region(of: p) != PasHeap.region(forSize: size) {
            throw failure(operation, "\(Self.hex(address)) in \(heap.region(of: p)), expected \(PasHeap.region(forSize: size))")
        }
        if let other = shadow.block(containing: address) ?? shadow.block(containing: address + UInt(size) - 1) {
            throw failure(
                operation, "\(Self.hex(address)) overlaps live block \(Self.hex(other.address)) (\(other.requested) bytes)")
        }
        let usable = try usableSize(p, operation)
        guard usable >= size else { throw failure(operation, "usable size \(usable) < \(size)") }
        let block = ShadowBlock(address: address, requested: size, tag: shadow.tag())
        ShadowBlocks.fill(address, size, with: block.tag)
        shadow.add(block)
    }

    func usableSize(_ p: UnsafeRawPointer, _ operation: String) throws(FuzzFailure) -> Int {
        switch paths {
        case .checked: return try check(operation) { () throws(PasError) in try heap.size(of: p) }
        case .malloc: return heap.usableSizeUnchecked(of: p)
        }
    }

    mutating func allocate(_ input: inout FuzzInput) throws(FuzzFailure) {
        let size = FuzzSizes.heapSize(&input)
        let alignment = input.byte() & 3 == 0 ? FuzzSizes.alignment(&input) : 16
        let zeroed = paths == .checked && input.byte() & 3 == 0
        guard shadow.hasRoom(for: size) else { return }
        let operation = "allocate(\(size), \(alignment))\(zeroed ? " zeroed" : "")"
        let p: UnsafeMutableRawPointer
        switch paths {
        case .checked:
            if zeroed {
                p = try check(operation) { () throws(PasError) in
                    try heap.allocateZeroed(count: 1, size: size, alignment: alignment)
                }
                if let bad = ShadowBlocks.firstMismatch(UInt(bitPattern: p), size, tag: 0) {
                    throw failure(operation, "byte \(bad) of \(Self.hex(UInt(bitPattern: p))) is not zero")
                }
            } else {
                p = try check(operation) { () throws(PasError) in try heap.allocate(size: size, alignment: alignment) }
            }
        case .malloc:
            let result =
                alignment <= 16
                ? heap.allocateUnchecked(size: size) : heap.allocateAlignedUnchecked(size: size, alignment: alignment)
            guard let result else { throw failure(operation, "nil") }
            p = result
        }
        try adopt(p, size: size, alignment: alignment, operation)
    }

    mutating func free(at index: Int) throws(FuzzFailure) {
        let block = shadow.live[index]
        let operation = "deallocate(\(Self.hex(block.address)))"
        try ShadowBlocks.check(block, step: step, operation)
        let p = UnsafeMutableRawPointer(bitPattern: block.address)!
        switch paths {
        case .checked: try check(operation) { () throws(PasError) in try heap.deallocate(p) }
        case .malloc:
            let ignored = heap.ignoredFrees
            guard heap.deallocateUnchecked(p) else { throw failure(operation, "refused a live block") }
            guard heap.ignoredFrees == ignored else { throw failure(operation, "a live block's free was ignored") }
        }
        shadow.remove(at: index)
    }

    mutating func reallocate(_ input: inout FuzzInput) throws(FuzzFailure) {
        guard !shadow.live.isEmpty else { return }
        let index = input.below(shadow.live.count)
        let old = shadow.live[index]
        let newSize = input.byte() & 1 == 0 ? FuzzSizes.heapSize(&input) : max(1, old.requested + input.value(in: -64 ... 64))
        guard shadow.hasRoom(for: newSize - old.requested + 1) || newSize <= old.requested else { return }
        let operation = "reallocate(\(Self.hex(old.address)), \(old.requested) -> \(newSize))"
        try ShadowBlocks.check(old, step: step, operation)
        let p = UnsafeMutableRawPointer(bitPattern: old.address)!
        let moved: UnsafeMutableRawPointer
        switch paths {
        case .checked: moved = try check(operation) { () throws(PasError) in try heap.reallocate(p, to: newSize) }
        case .malloc:
            guard let result = heap.reallocateUnchecked(p, to: newSize) else { throw failure(operation, "nil") }
            moved = result
        }
        var block = old
        block.address = UInt(bitPattern: moved)
        try ShadowBlocks.check(block, count: min(old.requested, newSize), step: step, "\(operation) = \(Self.hex(block.address))")
        shadow.remove(at: index)
        if let other = shadow.block(containing: block.address) {
            throw failure(operation, "moved onto live block \(Self.hex(other.address))")
        }
        let usable = try usableSize(moved, operation)
        guard usable >= newSize else { throw failure(operation, "usable size \(usable) < \(newSize)") }
        block.requested = newSize
        block.tag = shadow.tag()
        ShadowBlocks.fill(block.address, newSize, with: block.tag)
        shadow.add(block)
    }

    /// True for the regions where the malloc paths check frees (bitfit and large).
    func isChecked(_ address: UInt) -> Bool {
        let region = heap.region(of: UnsafeRawPointer(bitPattern: address)!)
        return region == .marge || region == .large
    }

    mutating func badCall(_ input: inout FuzzInput) throws(FuzzFailure) {
        let kind = input.byte() % 4
        var address: UInt
        var victim: ShadowBlock? = nil
        switch kind {
        case 0:
            address = ForeignAddresses.pick(&input)
            guard !heap.contains(UnsafeRawPointer(bitPattern: address)!) else { return }
        case 1:
            guard !shadow.live.isEmpty else { return }
            let block = shadow.live[input.below(shadow.live.count)]
            guard block.requested >= 2 else { return }
            address = block.address + UInt(input.value(in: 1 ... block.requested - 1))
            victim = block
        case 2:
            guard let stale = shadow.staleAddress(input.below(64)) else { return }
            address = stale
            victim = shadow.block(containing: stale)
        default:
            // Bad sizes and alignments.
            guard paths == .checked else { return }
            let alignment = input.pick([3, 24, 48, 1 << 31])
            try expectError("allocate(16, \(alignment))", ExpectedError.invalidAlignment) {
                () throws(PasError) in
                _ = try heap.allocate(size: 16, alignment: alignment)
            }
            let size = input.pick([0, -1, Int.max])
            try expectError("allocate(\(size))", ExpectedError.invalidSize) { () throws(PasError) in
                _ = try heap.allocate(size: size)
            }
            return
        }
        let kindName = ["foreign", "interior", "stale"][Int(kind)]
        let p = UnsafeMutableRawPointer(bitPattern: address)!
        let operation = "deallocate(\(kindName) \(Self.hex(address)))"
        switch paths {
        case .checked:
            let what = input.byte() % 3
            try expectError(operation + ["", " size(of:)", " reallocate"][Int(what)], ExpectedError.any) { () throws(PasError) in
                switch what {
                case 0: try heap.deallocate(p)
                case 1: _ = try heap.size(of: p)
                default: _ = try heap.reallocate(p, to: 32)
                }
            }
        case .malloc:
            let ignored = heap.ignoredFrees
            if kind == 0 {
                guard !heap.deallocateUnchecked(p) else { throw failure(operation, "a foreign pointer was taken") }
                guard heap.usableSizeUnchecked(of: p) == 0 else { throw failure(operation, "foreign usable size not 0") }
                guard heap.ignoredFrees == ignored else { throw failure(operation, "a foreign free was counted by the heap") }
            } else {
                // Frees in the segregated regions are unchecked (undefined for bad pointers):
                // only the bitfit and large regions are given bad pointers.
                guard isChecked(address) else { return }
                guard heap.usableSizeUnchecked(of: p) == 0 else { throw failure(operation, "usable size of a bad pointer not 0") }
                guard heap.deallocateUnchecked(p) else { throw failure(operation, "a pointer in the cage was refused") }
                guard heap.ignoredFrees == ignored + 1 else {
                    throw failure(operation, "ignored frees \(ignored) -> \(heap.ignoredFrees), expected one more")
                }
            }
        }
        if let victim { try ShadowBlocks.check(victim, step: step, "after \(operation)") }
    }

    mutating func query(_ input: inout FuzzInput) throws(FuzzFailure) {
        guard !shadow.live.isEmpty else { return }
        let block = shadow.live[input.below(shadow.live.count)]
        let operation = "size(of: \(Self.hex(block.address)))"
        let usable = try usableSize(UnsafeRawPointer(bitPattern: block.address)!, operation)
        guard usable >= block.requested else { throw failure(operation, "\(usable) < \(block.requested)") }
        try ShadowBlocks.check(block, step: step, operation)
    }
}
