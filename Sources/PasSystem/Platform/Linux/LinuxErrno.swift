#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// The `errno` value a primitive of the platform layer failed with.
///
/// Internal to PasSystem: public errors carry the code in `PasError.system(_:errno:)`.
/// A plain value; reading `current` is one thread-local load.
struct Errno: Error, Equatable {
    /// The raw `errno` value.
    let code: Int32

    /// The calling thread's `errno` now (read right after the failed call).
    static var current: Errno { Errno(code: Glibc.errno) }

    /// `ENOMEM`: out of memory or of address space.
    static var outOfMemory: Errno { Errno(code: ENOMEM) }
    /// `EEXIST`: a fixed, no-replace mapping collided with an existing one.
    static var alreadyExists: Errno { Errno(code: EEXIST) }
    /// `EIO`: an input/output error (reported when a write makes no progress).
    static var inputOutput: Errno { Errno(code: EIO) }

    /// The C library's text for `code` (`strerror`), or "unknown error".
    static func name(of code: Int32) -> String {
        guard let s = strerror(code) else { return "unknown error" }
        return String(cString: s)
    }
}
#endif
