#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// Linux's view of the calling process: `/proc/self`, `pthread_atfork`, the dynamic linker.
///
/// Slow paths only (files are opened and parsed). Thread-safety: any thread.
enum PlatformProcess {
    /// Resident set size in bytes (`/proc/self/statm`), or 0 if it cannot be read.
    static func residentBytes() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var size = 0, resident = 0
        let n = withUnsafeMutablePointer(to: &size) { sp in
            withUnsafeMutablePointer(to: &resident) { rp in
                withVaList([sp, rp]) { vfscanf(f, "%ld %ld", $0) }
            }
        }
        return n == 2 ? resident * PlatformMemory.pageSize : 0
    }

    /// The lines of `/proc/self/maps` (one mapping each, in address order:
    /// `start-end perms offset dev inode [name]`).
    static func mappingLines() throws(Errno) -> [String] {
        guard let f = fopen("/proc/self/maps", "r") else { throw .current }
        defer { fclose(f) }
        var lines: [String] = []
        var line = [CChar](repeating: 0, count: 8192)
        while fgets(&line, Int32(line.count), f) != nil {
            lines.append(String(cString: line))
        }
        return lines
    }

    /// Installs `fork()` handlers (`pthread_atfork`). Returns 0 or an errno value.
    static func installForkHandlers(
        prepare: @escaping @convention(c) () -> Void,
        parent: @escaping @convention(c) () -> Void,
        child: @escaping @convention(c) () -> Void
    ) -> Int32 {
        pthread_atfork(prepare, parent, child)
    }

    /// True if the process was built with ThreadSanitizer (its runtime defines `__tsan_init`).
    static func runsUnderThreadSanitizer() -> Bool {
        dlsym(nil, "__tsan_init") != nil
    }
}
#endif
