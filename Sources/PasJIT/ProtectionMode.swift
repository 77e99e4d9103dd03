/// How a code region keeps writes and execution apart.
public enum ProtectionMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// One memory file mapped twice: read + execute where code runs, read + write at an
    /// unrelated, random address where it is written. No address is ever writable and
    /// executable. The writable view stays writable for the heap's lifetime (write scopes open
    /// nothing in this mode, so writes cost nothing extra): it is protected only by its
    /// address being secret (see `DualMapping`), which stops blind writes, not an attacker who
    /// can read memory first. The default on Linux.
    case dualMapped
    /// One mapping that is readable, writable and executable. Fastest writes, no W^X.
    case rwx
    /// One mapping, read + execute normally, switched to read + write with `mprotect` for
    /// the pages of a write scope and back afterwards (W^X without a second view). Write
    /// scopes are serialised, and a write body must not call back into the heap.
    /// Cost: so that writing one block never makes another live block non-executable, no two
    /// blocks share a page: every block's size and alignment round up to the system page (a
    /// 16-byte block takes a 4 KiB page on x86-64), and shrinking keeps whole pages.
    case toggled

    /// The mode's name (`dualMapped`, `rwx`, `toggled`).
    public var description: String { rawValue }
}

/// What freed code is overwritten with, so a stale call traps instead of running garbage.
public enum FillPattern: Sendable, Equatable {
    /// Leave freed code as it is. (Pages are still filled with traps when they are committed,
    /// so code memory that never held code traps.)
    case none
    /// The architecture's trap instruction (`int3` on x86-64, `brk #0` on arm64).
    case trap
    /// A repeated byte.
    case byte(UInt8)

    /// The 4-byte word repeated over freed memory, or nil for `.none`.
    var word: UInt32? {
        switch self {
        case .none: return nil
        case .byte(let b): return UInt32(b) &* 0x0101_0101
        case .trap:
            #if arch(arm64)
            return 0xD420_0000 // brk #0
            #else
            return 0xCCCC_CCCC // int3
            #endif
        }
    }
}
