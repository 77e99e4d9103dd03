import Testing
import Pas
import PasSystem

// Non-inlined wrappers around the specialised fast paths, so that the release build's
// disassembly shows exactly what a caller gets (`objdump -d` on these symbols).
@inline(never) func probeAllocate(_ heap: SmallHeap, _ size: Int) -> UnsafeMutableRawPointer? {
    heap.allocateUnchecked(size: size)
}
@inline(never) func probeDeallocate(_ heap: SmallHeap, _ pointer: UnsafeMutableRawPointer) {
    heap.deallocateUnchecked(pointer)
}
@inline(never) func probeIsoAllocate(_ heap: SystemIsoHeap<SIMD4<Float>>) -> UnsafeMutablePointer<SIMD4<Float>>? {
    heap.allocateUnchecked()
}
@inline(never) func probeIsoDeallocate(_ heap: SystemIsoHeap<SIMD4<Float>>, _ pointer: UnsafeMutablePointer<SIMD4<Float>>) {
    heap.deallocateUnchecked(pointer)
}

@Suite struct FastPathProbeTests {
    @Test func hotPairsThroughTheProbesReuseOneSlot() throws {
        let heap = try SmallHeap()
        let iso = try SystemIsoHeap<SIMD4<Float>>()
        var addresses = Set<UInt>()
        for _ in 0 ..< 10_000 {
            let p = try #require(probeAllocate(heap, 64))
            probeDeallocate(heap, p)
            let q = try #require(probeIsoAllocate(iso))
            probeIsoDeallocate(iso, q)
            addresses.insert(UInt(bitPattern: p))
            addresses.insert(UInt(bitPattern: q))
        }
        // Frees go to the owner's pool, which refills the allocator once its window is dry,
        // so a hot pair cycles through one page's slots of each heap.
        #expect(addresses.count <= 2 * 256 + 2)
        #expect(heap.statistics.objectsInUse == 0 && iso.statistics.objectsInUse == 0)
        try heap.verify(); try iso.verify()
    }
}
