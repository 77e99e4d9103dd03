#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import Glibc

/// The process's environment variables, for settings read once at start-up.
///
/// Thread-safety: safe while no thread changes the environment (`setenv`); cost: a scan of
/// the environment and a copy of the value.
package enum ProcessEnvironment {
    /// The value of the variable `name`, or nil if it is not set.
    package static func value(of name: String) -> String? {
        guard let text = getenv(name) else { return nil }
        return String(cString: text)
    }
}
#endif
