/// How a code region keeps writes and execution apart.
public enum ProtectionMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// One memory file mapped twice: read + execute where code runs, read + write at an
    /// unrelated address where it is written. No address is ever writable and executable.
    /// Writes cost nothing extra. The default on Linux.
    case dualMapped
    /// One mapping that is readable, writable and executable. Fastest writes, no W^X.
    case rwx
    /// One mapping, read + execute normally, switched to read + write with `mprotect` for
    /// the pages of a write scope and back afterwards (W^X without a second view). Code on
    /// pages being written must not run during the write; write scopes are serialised.
    case toggled

    public var description: String { rawValue }
}

/// What freed code is overwritten with, so a stale call traps instead of running garbage.
public enum FillPattern: Sendable, Equatable {
    /// Leave freed code as it is.
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
