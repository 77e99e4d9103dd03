#if canImport(Glibc)
import Glibc
#endif

/// The lowest stack address compiled code may use on the calling thread.
enum StackBounds {
    /// Room left below the limit for signal handlers and the unwinding path.
    static let margin: UInt = 128 << 10
    /// Used when the thread's stack bounds cannot be read: this much below the caller's frame.
    static let fallbackDepth: UInt = 256 << 10

    /// The current thread's stack limit for compiled code. Cost: one `pthread_getattr_np`.
    static func limitForCurrentThread() -> UInt {
        var here = 0
        let current = withUnsafeMutablePointer(to: &here) { UInt(bitPattern: $0) }
        var fallback: UInt { current > fallbackDepth ? current - fallbackDepth : current }
        #if canImport(Glibc)
        // pthread_getattr_np is a GNU extension the Glibc module does not declare; look it up.
        typealias GetAttributes = @convention(c) (pthread_t, UnsafeMutablePointer<pthread_attr_t>) -> Int32
        guard let symbol = dlsym(nil, "pthread_getattr_np") else { return fallback }
        let getAttributes = unsafeBitCast(symbol, to: GetAttributes.self)
        var attributes = pthread_attr_t()
        guard getAttributes(pthread_self(), &attributes) == 0 else { return fallback }
        defer { pthread_attr_destroy(&attributes) }
        var base: UnsafeMutableRawPointer?
        var size = 0
        guard pthread_attr_getstack(&attributes, &base, &size) == 0, let base else { return fallback }
        let low = UInt(bitPattern: base)
        // A limit at or above the current frame would fail every call; that is still safe.
        return low + margin
        #else
        return fallback
        #endif
    }
}
