/// The process's `fork()` hooks (`pthread_atfork`).
///
/// Pas installs one set of handlers (see `ForkRegistry` in Pas), which run every registered
/// participant in a fixed order. Thread-safety: any thread; cost: one libc call.
public enum ForkHandlers {
    /// Installs handlers that run around every `fork()` of the process: `prepare` in the parent
    /// before it forks, `parent` in the parent and `child` in the child afterwards (on the
    /// forking thread, the child's only thread). Handlers cannot be removed.
    /// Throws `.system(.atfork, errno:)` if the C library refuses (out of memory).
    public static func install(
        prepare: @escaping @convention(c) () -> Void,
        parent: @escaping @convention(c) () -> Void,
        child: @escaping @convention(c) () -> Void
    ) throws(PasError) {
        let rc = PlatformProcess.installForkHandlers(prepare: prepare, parent: parent, child: child)
        if rc != 0 { throw .system(.atfork, errno: rc) }
    }
}
