import Testing
import PasJIT
import PasSystem
import PasTestSupport
import Synchronization

/// Hands one `OwnedCodeBlock` from a thread to another.
final class OwnerSlot: Sendable {
    /// Protects the owner while it is in the slot; no other lock is taken while holding it.
    private let owner: Mutex<OwnedCodeBlock?>

    init(_ owned: consuming OwnedCodeBlock) { owner = Mutex(Optional(owned)) }

    /// The owner, moved out of the slot; nil once taken.
    func take() -> OwnedCodeBlock? { owner.withLock { $0.take() } }

    /// True once the owner was taken.
    var isEmpty: Bool { owner.withLock { $0 == nil } }
}

/// `OwnedCodeBlock`: the noncopyable owner of a code block.
@Suite struct OwnedCodeBlockTests {
    @Test(arguments: ProtectionMode.allCases)
    func installRunAndDeallocate(mode: ProtectionMode) throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, protectionModes: [mode], pageSharing: nil))
        let owned = try OwnedCodeBlock(installing: returnConstant(41), in: heap)
        // `#expect` captures its operands in a closure, so the owner's parts are read first.
        let ownersHeap = owned.heap, block = owned.block, address = owned.address
        #expect(ownersHeap === heap)
        #expect(address == block.address)
        #expect(call(block) == 41)
        try owned.copy(returnConstant(42))
        #expect(call(block) == 42)
        #expect(heap.statistics.blockCount == 1)
        try owned.deallocate()
        #expect(heap.statistics.blockCount == 0)
        // The block is free: the heap refuses its handle now (the owner itself is gone).
        #expect(throws: PasError.self) { try heap.size(of: CodeBlock(address: address)) }
        try heap.verify()
    }

    @Test func allocateWriteShrinkAndSize() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let owned = try OwnedCodeBlock(in: heap, size: 256, alignment: 64)
        let block = owned.block
        let size = try owned.size()
        #expect(block.address % 64 == 0)
        #expect(size >= 256)
        try owned.withWritableBytes { bytes in bytes.copyBytes(from: returnConstant(9)) }
        #expect(call(block) == 9)
        try owned.shrink(to: 16)
        let shrunk = try owned.size()
        #expect(shrunk == 16)
        try owned.deallocate()
        #expect(heap.statistics.blockCount == 0)
    }

    @Test func largeBlock() throws {
        let heap = try JITHeap(options: .init(regionSize: 8 << 20, pageSharing: nil))
        let owned = try OwnedCodeBlock(in: heap, size: 1 << 20)
        let size = try owned.size()
        #expect(size >= 1 << 20)
        try owned.deallocate()
        #expect(heap.statistics.blockCount == 0)
    }

    @Test func adoptAndRelease() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let block = try heap.install(returnConstant(5))
        let owned = OwnedCodeBlock(adopting: block, in: heap)
        let adopted = owned.block
        #expect(adopted == block)
        // release ends the owner and leaves the block allocated.
        let handle = owned.release()
        #expect(handle == block)
        #expect(call(handle) == 5)
        try heap.deallocate(handle)
        #expect(heap.statistics.blockCount == 0)
    }

    /// An owner moves to another thread (through a lock-protected slot) without a copy.
    @Test func ownerMovesToAnotherThread() async throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let slot = OwnerSlot(try OwnedCodeBlock(installing: returnConstant(77), in: heap))
        let result = try await Task.detached { () throws(PasError) -> Int32? in
            guard let owned = slot.take() else { return nil }
            let value = call(owned.block)
            try owned.deallocate()
            return value
        }.value
        #expect(result == 77)
        #expect(slot.isEmpty)
        #expect(heap.statistics.blockCount == 0)
    }

    @Test func failedAllocationThrows() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        #expect(throws: PasError.invalidSize(.allocate, 0)) { _ = try OwnedCodeBlock(in: heap, size: 0) }
        #expect(throws: PasError.invalidSize(.allocate, 0)) { _ = try OwnedCodeBlock(installing: [], in: heap) }
    }
}

/// `withWritableBytes` with a body that throws: its own error type, and `PasError`.
@Suite struct WriteScopeErrorTests {
    struct AssemblerFailure: Error, Equatable { let reason: String }

    @Test(arguments: ProtectionMode.allCases)
    func bodyErrorIsWrappedAndTheScopeCloses(mode: ProtectionMode) throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, protectionModes: [mode], pageSharing: nil))
        let b = try heap.install(returnConstant(3))
        #expect(throws: WriteScopeError.body(AssemblerFailure(reason: "no room"))) {
            try heap.withWritableBytes(of: b) { (bytes) throws(AssemblerFailure) in
                bytes.copyBytes(from: returnConstant(4))
                throw AssemblerFailure(reason: "no room")
            }
        }
        // The scope was closed and the cache flushed: the bytes written before the throw run,
        // and the heap accepts the next call (a toggled scope left open would refuse it).
        #expect(call(b) == 4)
        try heap.deallocate(b)
        try heap.verify()
    }

    @Test func heapErrorIsWrapped() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let b = try heap.allocate(size: 64)
        try heap.deallocate(b)
        var ran = false
        do {
            try heap.withWritableBytes(of: b) { (_) throws(AssemblerFailure) in ran = true }
            Issue.record("a write scope over a freed block opened")
        } catch {
            guard case .heap(let problem) = error else {
                Issue.record("expected a heap error, got \(error)")
                return
            }
            #expect(
                problem == .doubleFree(.write, address: b.address) || problem == .unknownPointer(.write, address: b.address),
                "\(problem)")
        }
        #expect(!ran)
    }

    @Test func pasErrorFromTheBodyIsThrownAsItself() throws {
        let heap = try JITHeap(options: .init(regionSize: 4 << 20, pageSharing: nil))
        let b = try heap.allocate(size: 64)
        #expect(throws: PasError.invalidSize(.write, 1)) {
            try heap.withWritableBytes(of: b) { (_) throws(PasError) in throw .invalidSize(.write, 1) }
        }
        // A body that throws nothing takes the `PasError` overload and returns its value.
        let count = try heap.withWritableBytes(of: b) { bytes in bytes.count }
        #expect(count == (try heap.size(of: b)))
        try heap.deallocate(b)
    }
}
