#if canImport(Glibc)
import Glibc
#endif
import PasSystem

/// Reads /proc/self/maps: the protection of the mapping that holds an address.
public enum ProcessMaps {
    /// One line of /proc/self/maps.
    public struct Entry: Sendable {
        /// The mapping's first address.
        public var start: UInt
        /// The address just past the mapping.
        public var end: UInt
        /// Its permissions as the kernel prints them ("r-xs", "rw-p", ...).
        public var permissions: String
        /// The inode of the file it maps (each memory file has its own), 0 for anonymous memory.
        public var inode: UInt64 = 0
    }

    /// Every mapping of the process, in address order. Reads and parses the whole file: a
    /// snapshot, which other threads may change at once.
    public static func entries() -> [Entry] {
        guard let f = fopen("/proc/self/maps", "r") else { return [] }
        defer { fclose(f) }
        var result: [Entry] = []
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            // start-end permissions offset device inode [path]
            let fields = text.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 2 else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let s = UInt(bounds[0], radix: 16), let e = UInt(bounds[1], radix: 16) else { continue }
            let inode = fields.count >= 5 ? UInt64(fields[4].prefix { $0.isNumber }) ?? 0 : 0
            result.append(Entry(start: s, end: e, permissions: String(fields[1]), inode: inode))
        }
        return result
    }

    /// Permissions ("r-xs", "rw-p", ...) of the mapping containing `address`, or nil.
    public static func permissions(of address: UInt) -> String? {
        entries().first { address >= $0.start && address < $0.end }?.permissions
    }
}

/// Residency of this process's own pages (`mincore`): unlike RSS, not disturbed by other tests
/// running in the same process.
public enum Residency {
    /// Number of resident pages in the page-aligned range `start ..< start + byteCount`.
    public static func residentPages(start: UInt, byteCount: Int) -> Int {
        let page = SystemInfo.pageSize
        let first = start & ~UInt(page - 1)
        let length = Int(start + UInt(byteCount) - first)
        let count = (length + page - 1) / page
        var vector = [UInt8](repeating: 0, count: count)
        let rc = vector.withUnsafeMutableBufferPointer {
            mincore(UnsafeMutableRawPointer(bitPattern: first), length, $0.baseAddress)
        }
        guard rc == 0 else { return count }
        return vector.reduce(0) { $0 + Int($1 & 1) }
    }
}
