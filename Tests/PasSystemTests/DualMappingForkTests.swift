import Testing
import PasSystem
import PasTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The two steps a fork uses to give a child its own copy of a dual mapping: `copyFile()` (data
/// pages copied, holes kept) and `adoptFile(_:holeProtection:)` (the copy mapped over both
/// views at the same addresses). Exercised in one process; JITForkTests fork.
@Suite struct DualMappingForkTests {
    let page = SystemInfo.pageSize

    @Test func copyKeepsDataAndHoles() throws {
        let m = try DualMapping(byteCount: 16 * page)
        m.writable.pointer.storeBytes(of: 0xA1, as: UInt8.self)
        (m.writable.pointer + 5 * page + 7).storeBytes(of: 0xB2, as: UInt8.self)
        (m.writable.pointer + 6 * page).storeBytes(of: 0xC3, as: UInt8.self)
        let copy = try m.copyFile()
        #expect(try copy.dataExtents() == [0 ..< page, 5 * page ..< 7 * page])
        #expect(try copy.dataExtents() == m.file.dataExtents())
        #expect(try copy.allocatedBytes() == 3 * page)
        var byte: UInt8 = 0
        #expect(pread(copy.descriptor, &byte, 1, off_t(5 * page + 7)) == 1 && byte == 0xB2)
    }

    @Test func adoptedFileBacksBothViewsAndHolesGetTheirProtection() throws {
        let m = try DualMapping(byteCount: 8 * page)
        m.writable.pointer.storeBytes(of: 0x11, as: UInt8.self)
        (m.writable.pointer + 3 * page).storeBytes(of: 0x33, as: UInt8.self)
        let old = m.file
        let copy = try m.copyFile()
        try m.adoptFile(copy, holeProtection: .none)
        #expect(m.file === copy)
        // Data pages read the same through the executable view and stay executable; holes are
        // inaccessible there, and the writable view is unchanged.
        #expect(m.executable.pointer.load(as: UInt8.self) == 0x11)
        #expect((m.executable.pointer + 3 * page).load(as: UInt8.self) == 0x33)
        #expect(ProcessMaps.permissions(of: m.executable.start)?.hasPrefix("r-x") == true)
        #expect(ProcessMaps.permissions(of: m.executable.start + UInt(page))?.hasPrefix("---") == true)
        #expect(ProcessMaps.permissions(of: m.executable.start + UInt(3 * page))?.hasPrefix("r-x") == true)
        #expect(ProcessMaps.permissions(of: m.writable.start + UInt(page))?.hasPrefix("rw-") == true)
        // The views no longer share a page with the old file.
        var b: UInt8 = 0x77
        #expect(pwrite(old.descriptor, &b, 1, 0) == 1)
        #expect(m.executable.pointer.load(as: UInt8.self) == 0x11)
        m.writable.pointer.storeBytes(of: 0x22, as: UInt8.self)
        #expect(m.executable.pointer.load(as: UInt8.self) == 0x22)
        var fromOld: UInt8 = 0
        #expect(pread(old.descriptor, &fromOld, 1, 0) == 1 && fromOld == 0x77)
    }
}
