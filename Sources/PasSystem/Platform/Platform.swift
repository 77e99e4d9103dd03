// The platform seam: every system call Pas makes goes through the files of this folder.
//
// One platform is selected here. Its files (Platform/<System>/) are compiled under the same
// condition as its branch below and define the primitives listed in the `#error`, which is
// all the rest of PasSystem (and, through PasSystem, Pas and PasJIT) uses of the operating
// system. Any other platform stops at the `#error`: with no platform file compiled and the
// error raised before type checking, it is the only diagnostic a port sees.
// docs/PORTING.md says what each primitive must do.

#if os(Linux) && canImport(Glibc)
// Linux with glibc: Platform/Linux/.
#else
#error(
    """
    Pas has no platform layer for this system. A port adds Sources/PasSystem/Platform/<System>/, \
    compiled under a new branch of this #if, defining: PlatformMemory (page size; reserve, map a \
    file shared, unmap, protect, discard private and shared pages), PlatformMemoryFile (anonymous \
    close-on-exec memory file: create, truncate, close, punch hole, allocated bytes, seek data or \
    hole, copy range, positioned write), PlatformProcess (resident bytes, mapping list, fork \
    handlers, ThreadSanitizer probe), Errno (errno, its name, the values PasSystem tests for), \
    MonotonicClock (precise and coarse), FutexWord (wait, wake), SystemThread (start detached, \
    yield, current id), ConditionMutex (mutex and monotonic condition variable), ThreadLocalSlot \
    (one initial-exec pointer per thread with an exit destructor), InstructionCache (flush), \
    ProcessEnvironment (read a variable). See docs/PORTING.md.
    """)
#endif
