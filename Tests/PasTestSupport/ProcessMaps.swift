#if canImport(Glibc)
import Glibc
#endif
import PasSystem

/// Reads /proc/self/maps: the protection of the mapping that holds an address.
public enum ProcessMaps {
    public struct Entry: Sendable {
        public var start: UInt
        public var end: UInt
        public var permissions: String
    }

    public static func entries() -> [Entry] {
        guard let f = fopen("/proc/self/maps", "r") else { return [] }
        defer { fclose(f) }
        var result: [Entry] = []
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            let fields = text.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2 else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let s = UInt(bounds[0], radix: 16), let e = UInt(bounds[1], radix: 16) else { continue }
            result.append(Entry(start: s, end: e, permissions: String(fields[1])))
        }
        return result
    }

    /// Permissions ("r-xs", "rw-p", ...) of the mapping containing `address`, or nil.
    public static func permissions(of address: UInt) -> String? {
        entries().first { address >= $0.start && address < $0.end }?.permissions
    }
}
