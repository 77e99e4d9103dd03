import Testing
import Foundation
import PasSystem
import PasTestSupport
import CPasShim
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DualMappingTests {
    let page = SystemInfo.pageSize

    @Test func writeThroughRWIsSeenAtRX() throws {
        let m = try DualMapping(byteCount: 8 * page)
        #expect(m.executable.start != m.writable.start)
        #expect(!m.executable.overlaps(m.writable))
        let w = UnsafeMutablePointer<UInt8>(bitPattern: m.writableAddress(of: m.executable.start + 100))!
        w.pointee = 0x5A
        let x = UnsafePointer<UInt8>(bitPattern: m.executable.start + 100)!
        #expect(x.pointee == 0x5A)
    }

    @Test func viewsAreNeverWritableAndExecutable() throws {
        let m = try DualMapping(byteCount: 4 * page)
        let rx = try #require(ProcessMaps.permissions(of: m.executable.start))
        let rw = try #require(ProcessMaps.permissions(of: m.writable.start))
        #expect(rx.hasPrefix("r-x"), "RX view is \(rx)")
        #expect(rw.hasPrefix("rw-"), "RW view is \(rw)")
        for e in ProcessMaps.entries() where e.start < m.executable.end && m.executable.start < e.end {
            #expect(!e.permissions.contains("w"))
        }
        for e in ProcessMaps.entries() where e.start < m.writable.end && m.writable.start < e.end {
            #expect(!e.permissions.contains("x"))
        }
    }

    @Test func codeWrittenThroughRWExecutes() throws {
        #if arch(x86_64)
        let code: [UInt8] = [0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3] // mov eax, 42; ret
        #elseif arch(arm64)
        let code: [UInt8] = [0x40, 0x05, 0x80, 0x52, 0xC0, 0x03, 0x5F, 0xD6] // mov w0, #42; ret
        #endif
        let m = try DualMapping(byteCount: page)
        let w = UnsafeMutableRawPointer(bitPattern: m.writableAddress(of: m.executable.start))!
        code.withUnsafeBytes { w.copyMemory(from: $0.baseAddress!, byteCount: code.count) }
        pas_shim_flush_icache(m.executable.pointer, m.executable.pointer + code.count)
        let f = unsafeBitCast(m.executable.pointer, to: (@convention(c) () -> Int32).self)
        #expect(f() == 42)
    }

    @Test func decommitPunchesTheFileForBothViews() throws {
        let size = 256 * page
        let m = try DualMapping(byteCount: size)
        #expect(try m.file.allocatedBytes() == 0)
        let w = m.writable.pointer.assumingMemoryBound(to: UInt8.self)
        for i in stride(from: 0, to: size, by: page) { w[i] = 0xCC }
        let full = try m.file.allocatedBytes()
        #expect(full >= size)
        try m.decommit(m.executable.slice(offset: 0, byteCount: size / 2))
        let half = try m.file.allocatedBytes()
        #expect(half <= full - size / 2, "file blocks \(full) -> \(half)")
        let x = m.executable.pointer.assumingMemoryBound(to: UInt8.self)
        #expect(x[0] == 0 && w[0] == 0)
        #expect(x[size / 2] == 0xCC)
        try m.decommit(m.executable)
        #expect(try m.file.allocatedBytes() == 0)
    }

    @Test func badInput() throws {
        #expect(throws: PasError.invalidSize(.reserve, 0)) { try DualMapping(byteCount: 0) }
        #expect(throws: PasError.invalidSize(.memfdCreate, 100)) { try MemoryFile(byteCount: 100) }
        let m = try DualMapping(byteCount: 2 * page)
        #expect(throws: PasError.invalidSize(.punchHole, 10)) { try m.file.punchHole(offset: 0, length: 10) }
        #expect(throws: PasError.invalidSize(.punchHole, page)) { try m.file.punchHole(offset: 2 * page, length: page) }
        let outside = MemoryRange(start: m.executable.end, byteCount: page)
        #expect(throws: PasError.outsideReservation(.decommit, address: outside.start, byteCount: page)) {
            try m.decommit(outside)
        }
    }
}

@Suite struct ShimTests {
    @Test func threadSlotIsPerThread() async throws {
        let marker = UnsafeMutableRawPointer(bitPattern: 0x1234)
        pas_shim_thread_slot_set(marker)
        #expect(pas_shim_thread_slot_get() == marker)
        var seen = UnsafeMutableRawPointer(bitPattern: 1)
        runOnNewThread { seen = pas_shim_thread_slot_get() }
        #expect(seen == nil)
        pas_shim_thread_slot_set(nil)
    }
}
