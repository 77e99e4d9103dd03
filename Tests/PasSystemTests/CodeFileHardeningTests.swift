import Testing
import PasSystem
import CPasShim
#if canImport(Glibc)
import Glibc
#endif

/// The code file cannot be executed through its descriptor, and the writable view of a dual
/// mapping lands at an unpredictable address.
@Suite struct CodeFileHardeningTests {
    let page = SystemInfo.pageSize

    /// The kernel release as (major, minor), from uname.
    static func kernelVersion() -> (Int, Int) {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        return (parts.first ?? 0, parts.dropFirst().first ?? 0)
    }

    /// `MFD_NOEXEC_SEAL` (Linux 6.3 and later): the file has no execute bits and they are
    /// sealed off, so the descriptor cannot be passed to `execveat` or `fexecve`.
    @Test func codeFileIsNotExecutableThroughItsDescriptor() throws {
        let file = try MemoryFile(byteCount: page)
        var st = stat()
        #expect(fstat(file.descriptor, &st) == 0)
        let (major, minor) = Self.kernelVersion()
        if major > 6 || (major == 6 && minor >= 3) {
            #expect(st.st_mode & 0o111 == 0, "memfd mode \(String(st.st_mode, radix: 8))")
            let fGetSeals: Int32 = 1024 + 10, fSealExec: Int32 = 0x20
            let seals = fcntl(file.descriptor, fGetSeals)
            #expect(seals >= 0 && seals & fSealExec != 0, "seals \(seals)")
            #expect(fchmod(file.descriptor, 0o755) != 0, "execute bits could be set again")
        }
        // Mapping it executable still works: the views of a dual mapping are mmap, not exec.
        let m = try DualMapping(byteCount: page)
        #if arch(x86_64)
        let code: [UInt8] = [0xB8, 0x07, 0x00, 0x00, 0x00, 0xC3]
        #else
        let code: [UInt8] = [0xE0, 0x00, 0x80, 0x52, 0xC0, 0x03, 0x5F, 0xD6]
        #endif
        code.withUnsafeBytes { m.writable.pointer.copyMemory(from: $0.baseAddress!, byteCount: code.count) }
        pas_shim_flush_icache(m.executable.pointer, m.executable.pointer + code.count)
        #expect(unsafeBitCast(m.executable.pointer, to: (@convention(c) () -> Int32).self)() == 7)
    }

    /// Many dual mappings: their writable views spread over the address space (many distinct
    /// high address bits) and lie far from their executable views, not next to them.
    @Test func writableViewsAreSpreadOverTheAddressSpace() throws {
        var local = 0
        let stack = withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
        let addressBits = UInt.bitWidth - stack.leadingZeroBitCount // 47 on x86-64
        let mappings = try (0 ..< 64).map { _ in try DualMapping(byteCount: 4 * page) }
        let buckets = Set(mappings.map { $0.writable.start >> UInt(addressBits - 12) })
        #expect(buckets.count >= 32, "64 writable views fall into \(buckets.count) of 4096 slices of the address space")
        let near = mappings.filter {
            let d =
                $0.writable.start > $0.executable.start
                ? $0.writable.start - $0.executable.start
                : $0.executable.start - $0.writable.start
            return d < 1 << 32
        }
        #expect(near.count <= 2, "\(near.count) of 64 writable views lie within 4 GiB of their executable view")
        #expect(Set(mappings.map(\.writable.start)).count == 64)
        for m in mappings { #expect(m.writablePlacement == .random, "\(m.writablePlacement)") }
    }
}
