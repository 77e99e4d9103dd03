import Testing
import Pas
import PasSystem

@Suite struct SizeClassTests {
    @Test func tableMatchesTheDocumentedClasses() {
        let expected = [
            16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512,
            640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
        ]
        for (i, s) in expected.enumerated() { #expect(SizeClasses.size(ofClass: i) == s, "class \(i)") }
        #expect(SizeClasses.classCount(upTo: SmallPagesConfig.maxObjectSize) == 24)
        #expect(SizeClasses.classCount(upTo: MediumPagesConfig.maxObjectSize) == 36)
        #expect(SizeClasses.size(ofClass: 35) == 16384)
    }

    @Test func everySizeGetsTheSmallestClassWithinTheWasteBound() {
        var previous = 0
        for size in 1 ... 16384 {
            let c = SizeClasses.classIndex(forSize: size)
            let classSize = SizeClasses.size(ofClass: c)
            #expect(classSize >= size && classSize % 16 == 0, "size \(size)")
            if c > 0 { #expect(SizeClasses.size(ofClass: c - 1) < size, "size \(size) not in smallest class") }
            #expect(c >= previous, "class index not monotone at \(size)")
            previous = c
            // Documented bound: less than 16 bytes, or less than a quarter of the request.
            #expect(classSize - size < max(16, size / 4 + 1), "waste at \(size)")
        }
    }

    @Test func layoutsKeepHeadersBeforeThePayload() {
        for layout in [SmallPagesConfig.layout, MediumPagesConfig.layout] {
            let chunk: UInt = 0x7f00_0000_0000
            let lastHeaderEnd = layout.header(chunk: chunk, page: layout.pagesPerChunk - 1) + (1 << UInt(layout.strideShift))
            #expect(lastHeaderEnd <= chunk + UInt(layout.metaPages * layout.pageSize))
            #expect(layout.header(chunk: chunk, page: layout.metaPages) >= chunk + UInt(PageLayout.chunkHeaderBytes))
            #expect(64 + 24 * layout.bitmapWords <= 1 << layout.strideShift)
            for i in layout.metaPages ..< layout.pagesPerChunk {
                let start = chunk + UInt(i * layout.pageSize)
                let h = layout.header(containing: start + UInt(layout.pageSize - 1))
                #expect(h == layout.header(chunk: chunk, page: i))
                #expect(layout.pageStart(ofHeader: h) == start)
            }
        }
        #expect(SmallPagesConfig.layout.metaPages == 2)
        #expect(MediumPagesConfig.layout.metaPages == 1)
    }

    @Test func heapLookupTableAgreesWithTheClassFunction() throws {
        let heap = try MediumHeap()
        var pointers: [UnsafeMutableRawPointer] = []
        for size in stride(from: 1, through: 16384, by: 7) {
            let p = try heap.allocate(size: size)
            #expect(try heap.size(of: p) == SizeClasses.size(ofClass: SizeClasses.classIndex(forSize: size)), "size \(size)")
            pointers.append(p)
        }
        for p in pointers { try heap.deallocate(p) }
        try heap.verify()
    }
}
