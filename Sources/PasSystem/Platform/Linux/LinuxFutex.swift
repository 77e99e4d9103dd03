#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import CPasShim

/// Sleeping on and waking a 32-bit word (Linux futexes, process-private).
///
/// Thread-safety: any thread. Cost: one system call each.
enum FutexWord {
    /// Blocks while `*word == expected` (`FUTEX_WAIT_PRIVATE`). Returns early on a signal
    /// or when the word already differs; the caller re-checks the word.
    static func wait(_ word: UnsafeMutablePointer<UInt32>, whileEqualTo expected: UInt32) {
        _ = pas_shim_futex_wait(word, expected)
    }

    /// Wakes up to `count` threads blocked on `word` (`FUTEX_WAKE_PRIVATE`).
    static func wake(_ word: UnsafeMutablePointer<UInt32>, count: Int32) {
        _ = pas_shim_futex_wake(word, count)
    }
}
#endif
