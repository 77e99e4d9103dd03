import Pas
import PasJIT
import PasSystem

/// Interprets fuzz input as a sequence of `JITHeap` calls: allocate and install, write,
/// shrink, free, scavenge, size queries and bad calls (foreign, interior and stale pointers,
/// bad shrinks, writes out of bounds), checked against the shadow model; `verify()` after
/// every step. Not thread-safe: one sequence drives its heap alone.
public struct JITHeapSequence {
    /// The heap the sequence drives.
    public let heap: JITHeap
    /// The model of the blocks the heap should hold now.
    public private(set) var shadow = ShadowBlocks()
    /// Steps run so far (`finish` counts as one); failures report it.
    public private(set) var step = 0

    /// A sequence on `heap`, which must be empty: its block count is compared with the
    /// shadow's.
    public init(heap: JITHeap) { self.heap = heap }

    /// A heap for a sequence: a 64 MiB dual-mapped region (the default mode), no page-sharing
    /// pool (pages are returned only by the sequence's scavenge steps).
    public static func makeHeap() throws(PasError) -> JITHeap {
        try JITHeap(options: JITHeap.Options(regionSize: 64 << 20, pageSharing: nil))
    }

    /// Runs steps until the input ends or `maxSteps` steps ran.
    public mutating func run(_ input: inout FuzzInput, maxSteps: Int) throws(FuzzFailure) {
        while !input.isExhausted && step < maxSteps {
            step += 1
            try perform(&input)
            try check("verify") { () throws(PasError) in try heap.verify() }
        }
    }

    /// Frees every live block (checking its contents), then checks that the heap is empty.
    public mutating func finish() throws(FuzzFailure) {
        step += 1
        while !shadow.live.isEmpty { try free(at: shadow.live.count - 1, "finish") }
        // Empty pages back to the system, so that many inputs on one heap keep memory bounded.
        _ = try check("scavenge") { () throws(PasError) in try heap.decommitEmptyPages() }
        try check("verify") { () throws(PasError) in try heap.verify() }
        let s = heap.statistics
        guard s.blockCount == 0, s.liveBytes == 0 else {
            throw failure("finish", "empty heap reports \(s.blockCount) blocks, \(s.liveBytes) live bytes")
        }
    }

    func failure(_ operation: String, _ problem: String) -> FuzzFailure {
        FuzzFailure(step: step, operation: operation, problem: problem)
    }

    /// Runs `body`; a thrown `PasError` is a failure.
    func check<R>(_ operation: String, _ body: () throws(PasError) -> R) throws(FuzzFailure) -> R {
        do throws(PasError) { return try body() } catch { throw failure(operation, "unexpected \(error)") }
    }

    /// Runs `body`, which must throw a `PasError` that `expected` accepts.
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

    mutating func perform(_ input: inout FuzzInput) throws(FuzzFailure) {
        switch input.byte() % 10 {
        case 0, 1: try allocate(&input)
        case 2, 3:
            if !shadow.live.isEmpty { try free(at: input.below(shadow.live.count), "deallocate") }
        case 4: try shrink(&input)
        case 5: try rewrite(&input)
        case 6:
            _ = try check("scavenge") { () throws(PasError) in try heap.decommitEmptyPages() }
            for block in shadow.live { try ShadowBlocks.check(block, step: step, "scavenge") }
        case 7: try badCall(&input)
        case 8: try query(&input)
        default:
            let s = heap.statistics
            guard s.blockCount == shadow.live.count, s.liveBytes >= shadow.liveBytes else {
                throw failure(
                    "statistics",
                    "\(s.blockCount) blocks, \(s.liveBytes) live bytes; shadow \(shadow.live.count), \(shadow.liveBytes)")
            }
        }
    }

    mutating func allocate(_ input: inout FuzzInput) throws(FuzzFailure) {
        let size = FuzzSizes.codeSize(&input)
        let alignment = input.pick([16, 16, 16, 32, 64, 256, 4096, 16384])
        let installs = input.byte() & 1 == 0
        guard shadow.hasRoom(for: size) else { return }
        let tag = shadow.tag()
        let block: CodeBlock
        if installs && alignment == 16 {
            block = try check("install(\(size))") { () throws(PasError) in
                try heap.install([UInt8](repeating: tag, count: size))
            }
        } else {
            block = try check("allocate(\(size), \(alignment))") { () throws(PasError) in
                try heap.allocate(size: size, alignment: alignment)
            }
            try check("copy") { () throws(PasError) in try heap.copy([UInt8](repeating: tag, count: size), into: block) }
        }
        let operation = "allocate(\(size), \(alignment)) = \(block)"
        guard block.address % UInt(alignment) == 0 else { throw failure(operation, "misaligned") }
        guard heap.contains(block.address) else { throw failure(operation, "not contained") }
        if let other = shadow.block(containing: block.address) ?? shadow.block(containing: block.address + UInt(size) - 1) {
            throw failure(operation, "overlaps live block 0x\(String(other.address, radix: 16)) (\(other.requested) bytes)")
        }
        let usable = try check(operation) { () throws(PasError) in try heap.size(of: block) }
        guard usable >= size else { throw failure(operation, "usable size \(usable)") }
        let shadowBlock = ShadowBlock(address: block.address, requested: size, tag: tag)
        try ShadowBlocks.check(shadowBlock, step: step, operation)
        shadow.add(shadowBlock)
    }

    mutating func free(at index: Int, _ operation: String) throws(FuzzFailure) {
        let block = shadow.live[index]
        try ShadowBlocks.check(block, step: step, "\(operation) 0x\(String(block.address, radix: 16))")
        try check(operation) { () throws(PasError) in try heap.deallocate(CodeBlock(address: block.address)) }
        shadow.remove(at: index)
    }

    mutating func shrink(_ input: inout FuzzInput) throws(FuzzFailure) {
        guard !shadow.live.isEmpty else { return }
        let index = input.below(shadow.live.count)
        var block = shadow.live[index]
        let newSize = input.value(in: 1 ... block.requested)
        let operation = "shrink(0x\(String(block.address, radix: 16)), \(block.requested) -> \(newSize))"
        try ShadowBlocks.check(block, step: step, operation)
        try check(operation) { () throws(PasError) in try heap.shrink(CodeBlock(address: block.address), to: newSize) }
        block.requested = newSize
        try ShadowBlocks.check(block, step: step, operation)
        let usable = try check(operation) { () throws(PasError) in try heap.size(of: CodeBlock(address: block.address)) }
        guard usable >= newSize else { throw failure(operation, "usable size \(usable)") }
        shadow.replace(at: index, with: block)
    }

    mutating func rewrite(_ input: inout FuzzInput) throws(FuzzFailure) {
        guard !shadow.live.isEmpty else { return }
        let index = input.below(shadow.live.count)
        var block = shadow.live[index]
        let operation = "withWritableBytes(0x\(String(block.address, radix: 16)))"
        try ShadowBlocks.check(block, step: step, operation)
        block.tag = shadow.tag()
        let tag = block.tag, count = block.requested
        do {
            try heap.withWritableBytes(of: CodeBlock(address: block.address)) { bytes in
                guard bytes.count >= count else {
                    throw FuzzFailure(step: step, operation: operation, problem: "buffer of \(bytes.count) bytes")
                }
                ShadowBlocks.fill(UInt(bitPattern: bytes.baseAddress!), count, with: tag)
            }
        } catch {
            // The scope's error: the heap's (`.heap`) or the body's own failure (`.body`).
            if case .body(let inner as FuzzFailure) = error { throw inner }
            throw failure(operation, "unexpected \(error)")
        }
        try ShadowBlocks.check(block, step: step, operation)
        shadow.replace(at: index, with: block)
    }

    mutating func badCall(_ input: inout FuzzInput) throws(FuzzFailure) {
        switch input.byte() % 5 {
        case 0:
            let address = ForeignAddresses.pick(&input)
            guard !heap.contains(address) else { return }
            try expectError("deallocate(foreign 0x\(String(address, radix: 16)))", ExpectedError.unknownPointer) {
                () throws(PasError) in try heap.deallocate(CodeBlock(address: address))
            }
        case 1:
            guard !shadow.live.isEmpty else { return }
            let block = shadow.live[input.below(shadow.live.count)]
            guard block.requested >= 2 else { return }
            let interior = block.address + UInt(input.value(in: 1 ... block.requested - 1))
            try expectError("deallocate(interior 0x\(String(interior, radix: 16)))", ExpectedError.any) { () throws(PasError) in
                try heap.deallocate(CodeBlock(address: interior))
            }
            try ShadowBlocks.check(block, step: step, "after interior free")
        case 2:
            guard let stale = shadow.staleAddress(input.below(64)) else { return }
            try expectError("deallocate(stale 0x\(String(stale, radix: 16)))", ExpectedError.any) { () throws(PasError) in
                try heap.deallocate(CodeBlock(address: stale))
            }
        case 3:
            guard !shadow.live.isEmpty else { return }
            let block = shadow.live[input.below(shadow.live.count)]
            let usable = try check("size") { () throws(PasError) in try heap.size(of: CodeBlock(address: block.address)) }
            let newSize = input.byte() & 1 == 0 ? 0 : usable + input.value(in: 1 ... 4096)
            try expectError("shrink(0x\(String(block.address, radix: 16)), \(newSize))", ExpectedError.invalidSize) {
                () throws(PasError) in try heap.shrink(CodeBlock(address: block.address), to: newSize)
            }
            try ShadowBlocks.check(block, step: step, "after bad shrink")
        default:
            guard !shadow.live.isEmpty else { return }
            let block = shadow.live[input.below(shadow.live.count)]
            let usable = try check("size") { () throws(PasError) in try heap.size(of: CodeBlock(address: block.address)) }
            let count = input.value(in: 1 ... 64)
            let offset = max(0, usable - count) + input.value(in: 1 ... 64)
            try expectError("copy(\(count) bytes at \(offset) of \(usable))", ExpectedError.outOfBounds) { () throws(PasError) in
                try heap.copy([UInt8](repeating: 0xCC, count: count), into: CodeBlock(address: block.address), at: offset)
            }
            try ShadowBlocks.check(block, step: step, "after bad copy")
        }
    }

    mutating func query(_ input: inout FuzzInput) throws(FuzzFailure) {
        if input.byte() & 1 == 0, let stale = shadow.staleAddress(input.below(64)), shadow.block(containing: stale) == nil {
            try expectError("size(of: stale 0x\(String(stale, radix: 16)))", ExpectedError.any) { () throws(PasError) in
                _ = try heap.size(of: CodeBlock(address: stale))
            }
            return
        }
        guard !shadow.live.isEmpty else { return }
        let block = shadow.live[input.below(shadow.live.count)]
        let usable = try check("size") { () throws(PasError) in try heap.size(of: CodeBlock(address: block.address)) }
        guard usable >= block.requested else {
            throw failure("size(of: 0x\(String(block.address, radix: 16)))", "\(usable) < \(block.requested)")
        }
        guard heap.contains(block.address + UInt(block.requested) - 1) else {
            throw failure("contains", "last byte of a live block")
        }
    }
}
