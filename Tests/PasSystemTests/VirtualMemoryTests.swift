import Testing
import PasSystem
import PasTestSupport

@Suite struct SystemPageSourceTests {
    let source = SystemPageSource()
    var page: Int { source.pageSize }

    @Test func reserveCommitWriteDecommitRecommitReadsZero() throws {
        let range = try source.reserve(byteCount: 16 * page, alignment: page)
        defer { try? source.release(range) }
        #expect(range.byteCount == 16 * page)
        try source.commit(range, protection: .readWrite)
        let bytes = range.pointer.assumingMemoryBound(to: UInt8.self)
        for i in stride(from: 0, to: range.byteCount, by: 64) { bytes[i] = 0xAB }
        #expect(bytes[page] == 0xAB)
        try source.decommit(range)
        try source.commit(range, protection: .readWrite)
        for i in stride(from: 0, to: range.byteCount, by: 64) { #expect(bytes[i] == 0) }
    }

    @Test func decommitReleasesResidentMemory() throws {
        let size = 64 << 20
        let range = try source.reserve(byteCount: size, alignment: page)
        defer { try? source.release(range) }
        try source.commit(range, protection: .readWrite)
        let bytes = range.pointer.assumingMemoryBound(to: UInt8.self)
        for i in stride(from: 0, to: size, by: page) { bytes[i] = 1 }
        // mincore on the range itself: unlike RSS, not disturbed by tests running in parallel.
        #expect(Residency.residentPages(start: range.start, byteCount: size) == size / page)
        try source.decommit(range)
        #expect(Residency.residentPages(start: range.start, byteCount: size) == 0)
    }

    @Test func alignedReservation() throws {
        let alignment = 1 << 21
        let range = try source.reserve(byteCount: 3 * page, alignment: alignment)
        defer { try? source.release(range) }
        #expect(range.start % UInt(alignment) == 0)
        #expect(ProcessMaps.permissions(of: range.start)?.hasPrefix("---") == true)
    }

    @Test func protectChangesMapsEntry() throws {
        let range = try source.reserve(byteCount: 4 * page, alignment: page)
        defer { try? source.release(range) }
        try source.commit(range, protection: .readWrite)
        #expect(ProcessMaps.permissions(of: range.start)?.hasPrefix("rw-") == true)
        try source.protect(range, to: .read)
        #expect(ProcessMaps.permissions(of: range.start)?.hasPrefix("r--") == true)
    }

    @Test func badInputIsTypedError() throws {
        #expect(throws: PasError.invalidSize(.reserve, 0)) { try source.reserve(byteCount: 0, alignment: page) }
        #expect(throws: PasError.invalidSize(.reserve, -5)) { try source.reserve(byteCount: -5, alignment: page) }
        #expect(throws: PasError.invalidAlignment(.reserve, 3 * page)) {
            try source.reserve(byteCount: page, alignment: 3 * page)
        }
        #expect(throws: PasError.invalidSize(.reserve, Int.max)) { try source.reserve(byteCount: Int.max, alignment: page) }

        let range = try source.reserve(byteCount: 4 * page, alignment: page)
        // Unaligned size and address.
        #expect(throws: PasError.invalidSize(.commit, 100)) {
            try source.commit(MemoryRange(start: range.start, byteCount: 100), protection: .readWrite)
        }
        #expect(throws: PasError.misaligned(.commit, address: range.start + 8, alignment: page)) {
            try source.commit(MemoryRange(start: range.start + 8, byteCount: page), protection: .readWrite)
        }
        // Outside the reservation: overlapping its end, and entirely elsewhere.
        let overEnd = MemoryRange(start: range.start + UInt(2 * page), byteCount: 4 * page)
        #expect(throws: PasError.outsideReservation(.decommit, address: overEnd.start, byteCount: overEnd.byteCount)) {
            try source.decommit(overEnd)
        }
        let before = MemoryRange(start: range.start - UInt(page), byteCount: page)
        #expect(throws: PasError.outsideReservation(.protect, address: before.start, byteCount: page)) {
            try source.protect(before, to: .read)
        }
        // Partial and double release.
        #expect(throws: PasError.notReserved(.release, address: range.start)) {
            try source.release(MemoryRange(start: range.start, byteCount: page))
        }
        try source.release(range)
        #expect(throws: PasError.notReserved(.release, address: range.start)) { try source.release(range) }
        #expect(throws: PasError.outsideReservation(.commit, address: range.start, byteCount: page)) {
            try source.commit(MemoryRange(start: range.start, byteCount: page), protection: .readWrite)
        }
        #expect(source.reservationCount == 0)
    }

    @Test func errorsDescribeThemselves() {
        let e = PasError.system(.commit, errno: 12)
        #expect(e.errno == 12)
        #expect(e.description.contains("commit"))
        #expect(e.description.contains("12"))
        #expect(PasError.doubleFree(.deallocate, address: 0x1000).description.contains("0x1000"))
    }
}

@Suite struct RecordingPageSourceTests {
    @Test func recordsEveryOperation() throws {
        let mock = RecordingPageSource()
        let page = mock.pageSize
        let r = try mock.reserve(byteCount: 2 * page, alignment: page)
        try mock.commit(r, protection: .readWrite)
        try mock.protect(r, to: .read)
        try mock.decommit(r)
        try mock.release(r)
        #expect(mock.events == [.reserve(r), .commit(r, .readWrite), .protect(r, .read), .decommit(r), .release(r)])
        #expect(mock.decommittedBytes == 2 * page)
    }

    @Test func injectedFailuresSurfaceAsTypedErrors() throws {
        let mock = RecordingPageSource()
        let page = mock.pageSize
        mock.failNext(.reserve, errno: 12)
        #expect(throws: PasError.system(.reserve, errno: 12)) { try mock.reserve(byteCount: page, alignment: page) }
        let r = try mock.reserve(byteCount: page, alignment: page)
        mock.failNext(.commit, count: 2, errno: 11)
        #expect(throws: PasError.system(.commit, errno: 11)) { try mock.commit(r, protection: .readWrite) }
        #expect(throws: PasError.system(.commit, errno: 11)) { try mock.commit(r, protection: .readWrite) }
        try mock.commit(r, protection: .readWrite)
        mock.failNext(.decommit)
        #expect(throws: PasError.system(.decommit, errno: 12)) { try mock.decommit(r) }
        try mock.release(r)
        // Failed operations are not recorded; successful ones are.
        #expect(mock.events == [.reserve(r), .commit(r, .readWrite), .release(r)])
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualTimeSource(startingAt: 0)
        #expect(clock.nowNanoseconds() == 0)
        clock.advance(milliseconds: 299)
        #expect(clock.nowNanoseconds() == 299_000_000)
        let real = MonotonicTimeSource()
        let a = real.nowNanoseconds()
        #expect(real.nowNanoseconds() >= a)
    }
}
