#if os(Linux) && canImport(Glibc) // Selected by Platform/Platform.swift.
import CPasShim

/// One pointer per thread, kept in initial-exec thread-local storage: reading it is a single
/// `%fs`-relative load (x86-64) or `tpidr_el0`-relative load (arm64), with no call. A
/// destructor, once set, runs with the value at the exit of every thread that armed it.
///
/// The slot belongs to Pas's thread cache (`ThreadCache` in Pas); nothing else may use it.
/// Thread-safety: each thread sees only its own value.
@usableFromInline
package enum ThreadLocalSlot {
    /// The calling thread's value (nil until it stores one). Cost: one load, inlined.
    @inlinable @inline(__always)
    package static func load() -> UnsafeMutableRawPointer? { pas_shim_thread_slot_get() }

    /// Sets the calling thread's value. Cost: one store, inlined.
    @inlinable @inline(__always)
    package static func store(_ value: UnsafeMutableRawPointer?) { pas_shim_thread_slot_set(value) }

    /// Sets the destructor that runs with a thread's value when a thread that called
    /// `armDestructor` exits. Only the first call counts. Returns 0 or an errno value.
    /// Thread-safe; call once, before any thread arms it.
    package static func setDestructor(_ destructor: @escaping @convention(c) (UnsafeMutableRawPointer?) -> Void) -> Int32 {
        pas_shim_thread_slot_set_destructor(destructor)
    }

    /// Makes the destructor run, with `value`, when the calling thread exits (through a
    /// `pthread` key). Cost: `pthread_setspecific`; once per thread.
    package static func armDestructor(_ value: UnsafeMutableRawPointer) {
        pas_shim_thread_slot_arm_destructor(value)
    }
}
#endif
