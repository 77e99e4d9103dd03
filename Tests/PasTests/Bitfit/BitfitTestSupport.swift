import Pas
import PasTestSupport
import PasSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A chunk source for code-like memory: it forbids metadata in chunks, fills every new chunk
/// with a byte pattern (before the heap sees it), records decommits, can refuse to hand out
/// more chunks, and can make chunks inaccessible so that any access by the heap faults.
final class PatternChunkSource: ChunkSource, @unchecked Sendable {
    static let pattern: UInt8 = 0xA5
    let inner: ReservationChunkSource<SystemPageSource>
    let maxChunks: Int
    let metadataAllowed: Bool
    let inaccessible: Bool
    /// Protects `handedOut` and `decommits`. Leaf lock.
    private let handedOut = Mutex<[MemoryRange]>([])
    private let decommitted = Mutex<[MemoryRange]>([])

    init(maxChunks: Int = .max, allowsMetadata: Bool = false, inaccessible: Bool = false) {
        inner = ReservationChunkSource(source: SystemPageSource.shared, reservationSize: 16 << 20)
        self.maxChunks = maxChunks
        self.metadataAllowed = allowsMetadata
        self.inaccessible = inaccessible
    }

    /// Every range decommitted so far, in order.
    var decommits: [MemoryRange] { decommitted.withLock { $0 } }

    var pageSize: Int { inner.pageSize }
    var allowsMetadataInChunks: Bool { metadataAllowed }
    var chunks: [MemoryRange] { handedOut.withLock { $0 } }

    func allocateChunk(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange {
        let full = handedOut.withLock { $0.count >= maxChunks }
        if full { throw .outOfMemory(.allocate, requested: byteCount) }
        let chunk = try inner.allocateChunk(byteCount: byteCount, alignment: alignment)
        chunk.pointer.initializeMemory(as: UInt8.self, repeating: Self.pattern, count: byteCount)
        if inaccessible { try SystemPageSource.shared.protect(chunk, to: .none) }
        handedOut.withLock { $0.append(chunk) }
        return chunk
    }

    func decommit(_ range: MemoryRange) throws(PasError) {
        try inner.decommit(range)
        decommitted.withLock { $0.append(range) }
    }

    func commit(_ range: MemoryRange) throws(PasError) {
        // Inaccessible chunks stay inaccessible: the heap must not need access to commit.
        if !inaccessible { try inner.commit(range) }
    }
}

/// A fresh seed for a randomised test (printed by the test on failure), or the seed in the
/// environment variable `BITFIT_SEED` (decimal) to replay a failure.
func freshSeed() -> UInt64 {
    if let text = getenv("BITFIT_SEED"), let seed = UInt64(String(cString: text)) { return seed }
    return UInt64.random(in: 1 ... UInt64.max)
}

func makeHeap<C: BitfitConfig>(_: C.Type) -> BitfitHeap<C, ReservationChunkSource<SystemPageSource>> {
    BitfitHeap<C, ReservationChunkSource<SystemPageSource>>(
        chunks: ReservationChunkSource(source: SystemPageSource.shared, reservationSize: 64 << 20), pageSharing: nil)
}

extension UnsafeMutableRawPointer {
    var address: UInt { UInt(bitPattern: self) }
}
