import Testing
import PasJIT

/// The README's JITHeap tour, compiled and run.
@Suite struct ReadmeJITTourTests {
    @Test func jitTour() throws {
        #if arch(x86_64)
        let heap = try JITHeap()
        let block = try heap.allocate(size: 64)
        try heap.copy([0xB8, 42, 0, 0, 0, 0xC3], into: block)
        let f = unsafeBitCast(block.pointer, to: (@convention(c) () -> Int32).self)
        #expect(f() == 42)
        try heap.withWritableBytes(of: block) { bytes in
            bytes.copyBytes(from: [0xB8, 7, 0, 0, 0, 0xC3] as [UInt8])
        }
        #expect(f() == 7)
        try heap.shrink(block, to: 16)
        let stub = try heap.install([0xB8, 7, 0, 0, 0, 0xC3])
        #expect(unsafeBitCast(stub.pointer, to: (@convention(c) () -> Int32).self)() == 7)
        try heap.deallocate(stub)
        #expect(heap.contains(block.address))
        try heap.deallocate(block)
        try heap.decommitEmptyPages()
        #expect(heap.statistics.blockCount == 0)
        #endif
    }

    @Test func ownedBlockTour() throws {
        #if arch(x86_64)
        let heap = try JITHeap()
        let owned = try OwnedCodeBlock(installing: [0xB8, 7, 0, 0, 0, 0xC3], in: heap)
        let g = unsafeBitCast(owned.block.pointer, to: (@convention(c) () -> Int32).self)
        #expect(g() == 7)
        try owned.deallocate()
        #expect(heap.statistics.blockCount == 0)
        #endif
    }
}
