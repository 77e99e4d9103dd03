import Testing
import PasJIT
import PasSystem

/// Errors name the operation the caller called, and reservations that cannot be made are
/// reported as such.
@Suite struct JITHeapErrorTests {
    @Test func largeBlockErrorsNameTheCallersOperation() throws {
        let heap = try JITHeap(options: .mode(.rwx, regionSize: 16 << 20))
        let block = try heap.allocate(size: 1 << 20)
        let interior = CodeBlock(address: block.address + 4096)
        #expect(throws: PasError.unknownPointer(.deallocate, address: interior.address)) { try heap.deallocate(interior) }
        #expect(throws: PasError.unknownPointer(.write, address: interior.address)) { try heap.copy([0xC3], into: interior) }
        #expect(throws: PasError.unknownPointer(.shrink, address: interior.address)) { try heap.shrink(interior, to: 4096) }
        try heap.deallocate(block)
        let small = try heap.allocate(size: 64)
        let inside = CodeBlock(address: small.address + 16)
        #expect(throws: PasError.unknownPointer(.write, address: inside.address)) { try heap.copy([0xC3], into: inside) }
        try heap.deallocate(small)
    }

    /// A region that cannot be reserved is out of memory, in every mode, not a refused mode.
    @Test(arguments: [ProtectionMode.dualMapped, .rwx, .toggled])
    func unreservableRegionIsOutOfMemory(mode: ProtectionMode) {
        #expect(throws: PasError.outOfMemory(.reserve, requested: 1 << 60)) {
            try JITHeap(options: .mode(mode, regionSize: 1 << 60))
        }
    }
}
