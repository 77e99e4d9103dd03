import Testing
import Pas
import PasSystem
import PasTestSupport

@Suite struct ChunkSourceTests {
    @Test func chunksAreAlignedDisjointAndCommitted() throws {
        let mock = RecordingPageSource()
        let page = mock.pageSize
        let chunks = ReservationChunkSource(source: mock, reservationSize: 64 * page)
        var seen: [MemoryRange] = []
        for i in 0 ..< 40 {
            let align = i % 3 == 0 ? 16 * page : page
            let c = try chunks.allocateChunk(byteCount: 4 * page, alignment: align)
            #expect(c.start % UInt(align) == 0)
            for s in seen { #expect(!s.overlaps(c)) }
            c.pointer.storeBytes(of: 0xFEED, as: Int.self)
            seen.append(c)
        }
        let big = try chunks.allocateChunk(byteCount: 128 * page, alignment: page)
        #expect(big.byteCount == 128 * page)
        let reserves = mock.events.filter { if case .reserve = $0 { true } else { false } }
        #expect(reserves.count >= 3)
        #expect(chunks.reservedBytes >= 128 * page)
    }

    @Test func commitFailureSurfacesAndDoesNotLoseTheCursor() throws {
        let mock = RecordingPageSource()
        let page = mock.pageSize
        let chunks = ReservationChunkSource(source: mock, reservationSize: 16 * page)
        mock.failNext(.commit)
        #expect(throws: PasError.system(.commit, errno: 12)) { try chunks.allocateChunk(byteCount: page, alignment: page) }
        let c = try chunks.allocateChunk(byteCount: page, alignment: page)
        c.pointer.storeBytes(of: 1, as: UInt8.self)
        #expect(throws: PasError.invalidSize(.allocate, 0)) { try chunks.allocateChunk(byteCount: 0, alignment: page) }
        #expect(throws: PasError.invalidAlignment(.allocate, 3)) { try chunks.allocateChunk(byteCount: page, alignment: 3) }
    }
}
