/// The calling process's mappings as `/proc/self/maps` lists them, to check memory a caller
/// hands over before a heap relies on it.
///
/// A snapshot: the address space may change right after it is read. Slow path (opens and
/// parses a file); never on an allocation path.
public enum ProcessMappings {
    /// One line of `/proc/self/maps`.
    public struct Mapping: Sendable, Equatable {
        /// First address.
        public var start: UInt
        /// One past the last address.
        public var end: UInt
        /// Permissions as listed ("r-xp", "rw-s", ...).
        public var permissions: String
        /// What is mapped: empty for anonymous memory, a path, "/memfd:name (deleted)" for a
        /// memory file, or a bracketed name ("[stack]", "[heap]", "[anon:name]", ...).
        public var name: String
    }

    /// Every mapping, in address order. Throws `.system(.stat, …)` if the file cannot be read.
    /// Cost: reading and parsing the file. Thread-safety: any thread.
    public static func current() throws(PasError) -> [Mapping] {
        let lines: [String]
        do { lines = try PlatformProcess.mappingLines() } catch { throw .system(.stat, errno: error.code) }
        var result: [Mapping] = []
        for text in lines {
            // start-end perms offset dev inode [name]
            let fields = text.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let s = UInt(bounds[0], radix: 16), let e = UInt(bounds[1], radix: 16) else { continue }
            let name = fields.count > 5 ? String(fields[5]).trimmingWhitespace() : ""
            result.append(Mapping(start: s, end: e, permissions: String(fields[1]), name: name))
        }
        return result
    }

    /// True if a mapping of this name may hold code: anonymous memory (plain, named with
    /// `PR_SET_VMA_ANON_NAME`, or shared) or a memory file.
    static func mayHoldCode(_ name: String) -> Bool {
        name.isEmpty || name.hasPrefix("/memfd:") || name.hasPrefix("[anon:") || name.hasPrefix("[anon_shmem:")
            || name == "/dev/zero (deleted)"
    }

    /// Throws `.unusableMemory(op, …)` unless every byte of `range` is mapped, by mappings
    /// that are anonymous memory or a memory file, and none of them is `[stack]` or holds the
    /// calling thread's stack. Cost: one read of `/proc/self/maps`.
    public static func checkUsableAsCode(_ range: MemoryRange, _ op: PasOperation) throws(PasError) {
        func refuse(_ reason: String) -> PasError {
            .unusableMemory(op, address: range.start, byteCount: range.byteCount, reason: reason)
        }
        guard range.byteCount > 0 else { throw .invalidSize(op, range.byteCount) }
        var local = 0
        let stackAddress = withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
        let mappings = try current()
        var cursor = range.start
        for m in mappings where m.end > cursor {
            if cursor >= range.end { break }
            guard m.start <= cursor else { break }
            if m.name == "[stack]" || m.name.hasPrefix("[stack:") || (stackAddress >= m.start && stackAddress < m.end) {
                throw refuse("it overlaps a thread's stack (\(hex(m.start))-\(hex(m.end)))")
            }
            guard mayHoldCode(m.name) else {
                throw refuse(
                    "it overlaps a mapping of \(m.name) (\(hex(m.start))-\(hex(m.end))); only anonymous memory and memory files can hold code"
                )
            }
            cursor = m.end
        }
        if cursor < range.end { throw refuse("nothing is mapped at \(hex(cursor))") }
    }

    static func hex(_ value: UInt) -> String { "0x" + String(value, radix: 16) }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first ... last])
    }
}
