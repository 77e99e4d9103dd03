/// Facts about the running system that Pas reads once.
public enum SystemInfo {
    /// The kernel's page size (4 KiB on x86-64, 4, 16 or 64 KiB on arm64).
    /// Read once; any thread.
    public static let pageSize: Int = PlatformMemory.pageSize

    /// Resident set size of this process in bytes, from /proc/self/statm (0 if it cannot be
    /// read). Cost: opening and parsing a file. Thread-safety: any thread.
    public static func residentBytes() -> Int { PlatformProcess.residentBytes() }
}
