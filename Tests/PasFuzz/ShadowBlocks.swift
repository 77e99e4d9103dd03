#if canImport(Glibc)
import Glibc
#endif

/// One live block as the fuzzer believes it to be: where it starts, the bytes asked for, and
/// the tag byte every one of those bytes holds.
public struct ShadowBlock: Sendable {
    /// The block's start address.
    public var address: UInt
    /// The bytes asked for (the heap may hand out more).
    public var requested: Int
    /// The byte each of the requested bytes holds.
    public var tag: UInt8
}

/// What went wrong in a sequence: the step, the operation, and what was seen.
public struct FuzzFailure: Error, CustomStringConvertible, Sendable {
    /// The step that failed, counted from 1 (the sequence's `step`).
    public var step: Int
    /// The call or check that failed, with its arguments.
    public var operation: String
    /// What was seen instead of what was expected.
    public var problem: String
    /// The failure on one line: `step N (operation): problem`.
    public var description: String { "step \(step) (\(operation)): \(problem)" }
}

/// The shadow model: every live block, every freed address, and the checks of their
/// contents. Blocks are kept in allocation order; choices index into it.
public struct ShadowBlocks {
    /// The live blocks, in allocation order.
    public private(set) var live: [ShadowBlock] = []
    /// Addresses freed and not handed out again since (for double frees).
    public private(set) var freed: [UInt] = []
    /// The sum of the live blocks' requested sizes.
    public private(set) var liveBytes = 0
    var nextTag: UInt8 = 1

    /// At most this many blocks and bytes live at once, so a sequence's memory stays bounded.
    public static let maxBlocks = 48
    /// The most requested bytes live at once (24 MiB).
    public static let maxLiveBytes = 24 << 20

    /// An empty model: no live and no freed block.
    public init() {}

    /// True if one more block of `size` bytes stays within `maxBlocks` and
    /// `maxLiveBytes`.
    public func hasRoom(for size: Int) -> Bool { live.count < Self.maxBlocks && liveBytes + size <= Self.maxLiveBytes }

    /// A fresh tag (never 0, so zero-filled memory never passes for a tagged block).
    public mutating func tag() -> UInt8 {
        defer { nextTag = nextTag == 255 ? 1 : nextTag + 1 }
        return nextTag
    }

    /// True if a live block starts at `address`. Cost: linear in the live blocks.
    public func isLive(_ address: UInt) -> Bool { live.contains { $0.address == address } }

    /// The live block that contains `address` (start included), if any.
    public func block(containing address: UInt) -> ShadowBlock? {
        live.first { address >= $0.address && address < $0.address + UInt(max($0.requested, 1)) }
    }

    /// Records `block` as live; its address stops counting as freed.
    public mutating func add(_ block: ShadowBlock) {
        live.append(block)
        liveBytes += block.requested
        freed.removeAll { $0 == block.address }
    }

    /// Forgets live block `index` and records its address as freed (the 64 most
    /// recent freed addresses are kept). Returns the block.
    @discardableResult
    public mutating func remove(at index: Int) -> ShadowBlock {
        let block = live.remove(at: index)
        liveBytes -= block.requested
        freed.append(block.address)
        if freed.count > 64 { freed.removeFirst() }
        return block
    }

    /// Puts `block` in the place of live block `index` (after a shrink or a rewrite);
    /// if the address changed, the old one counts as freed.
    public mutating func replace(at index: Int, with block: ShadowBlock) {
        let old = live[index]
        liveBytes += block.requested - old.requested
        live[index] = block
        if old.address != block.address {
            freed.append(old.address)
            freed.removeAll { $0 == block.address }
        }
    }

    /// A freed address that is not the start of a live block now (a double free of it is
    /// one for the heap too), if any.
    public func staleAddress(_ choice: Int) -> UInt? {
        let stale = freed.filter { !isLive($0) }
        return stale.isEmpty ? nil : stale[choice % stale.count]
    }

    /// Fills `count` bytes at `address` with `tag`.
    /// Invariant: the caller owns [address, address + count) and may write it.
    public static func fill(_ address: UInt, _ count: Int, with tag: UInt8) {
        guard count > 0, let p = UnsafeMutableRawPointer(bitPattern: address) else { return }
        memset(p, Int32(tag), count)
    }

    /// The offset of the first of `count` bytes at `address` that is not `tag`, or nil.
    /// Invariant: [address, address + count) is readable (a live block, or the executable view
    /// of a live code block).
    public static func firstMismatch(_ address: UInt, _ count: Int, tag: UInt8) -> Int? {
        guard count > 0, let p = UnsafeRawPointer(bitPattern: address) else { return nil }
        let chunk = 4096
        return withUnsafeTemporaryAllocation(byteCount: chunk, alignment: 16) { expected -> Int? in
            memset(expected.baseAddress!, Int32(tag), chunk)
            var offset = 0
            while offset < count {
                let n = min(chunk, count - offset)
                if memcmp(p + offset, expected.baseAddress!, n) != 0 {
                    let bytes = (p + offset).assumingMemoryBound(to: UInt8.self)
                    for i in 0 ..< n where bytes[i] != tag { return offset + i }
                }
                offset += n
            }
            return nil
        }
    }

    /// Throws unless `block`'s first `count` bytes (default: all it asked for) hold its tag.
    public static func check(_ block: ShadowBlock, count: Int? = nil, step: Int, _ operation: String) throws(FuzzFailure) {
        let n = min(count ?? block.requested, block.requested)
        if let bad = firstMismatch(block.address, n, tag: block.tag) {
            let seen = UnsafeRawPointer(bitPattern: block.address + UInt(bad))!.load(as: UInt8.self)
            throw FuzzFailure(
                step: step, operation: operation,
                problem:
                    "block 0x\(String(block.address, radix: 16)) (\(block.requested) bytes, tag \(block.tag)): byte \(bad) is \(seen)"
            )
        }
    }
}
