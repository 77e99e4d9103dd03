#if canImport(Glibc)
import Glibc
#endif
import CPasShim

/// Facts about the running system that Pas reads once.
public enum SystemInfo {
    /// The kernel's page size (4 KiB on x86-64, 4, 16 or 64 KiB on arm64).
    public static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// True if memory protection keys are available (pkey_alloc succeeds).
    public static let supportsProtectionKeys: Bool = pas_shim_pkeys_supported()

    /// Resident set size of this process in bytes, from /proc/self/statm.
    public static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var size = 0, resident = 0
        let n = withUnsafeMutablePointer(to: &size) { sp in
            withUnsafeMutablePointer(to: &resident) { rp in
                withVaList([sp, rp]) { vfscanf(f, "%ld %ld", $0) }
            }
        }
        return n == 2 ? resident * pageSize : 0
    }
}
