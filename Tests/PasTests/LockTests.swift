import Testing
import Pas
import PasSystem
import PasTestSupport
#if canImport(Glibc)
import Glibc
#endif

final class Counter: @unchecked Sendable {
    let futex = FutexLock()
    var b = 0
}

@Suite struct LockTests {
    @Test func futexLockExcludesAndSleeps() {
        let c = Counter()
        onThreads(4) { _ in
            for i in 0 ..< 20_000 {
                c.futex.withLock {
                    c.b += 1
                    if i % 5000 == 0 { usleep(200) } // long holds force waiters into the kernel
                }
            }
        }
        #expect(c.b == 80_000)
        let first = c.futex.tryLock(), second = c.futex.tryLock()
        #expect(first && !second)
        c.futex.unlock()
        let locked = c.futex.isLocked
        #expect(!locked)
    }

    /// The tests' hand-off lock excludes (four threads, a plain counter); under ThreadSanitizer
    /// (`scripts/sanitizers.sh thread` runs it) an unordered pair of increments is also reported.
    @Test func handoffLockExcludes() {
        let counter = HandoffLock<Int>(0)
        onThreads(4) { _ in
            for i in 0 ..< 20_000 {
                counter.withLock { value in
                    value += 1
                    if i % 5000 == 0 { usleep(200) } // long holds make the others spin and yield
                }
            }
        }
        #expect(counter.withLock { $0 } == 80_000)
    }

    @Test func lockInRawMemory() {
        let p = UnsafeMutablePointer<FutexLock>.allocate(capacity: 1)
        p.initialize(to: FutexLock())
        p.pointee.lock()
        let locked = p.pointee.isLocked
        #expect(locked)
        p.pointee.unlock()
        p.deinitialize(count: 1)
        p.deallocate()
    }
}
