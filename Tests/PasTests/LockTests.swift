import Testing
import Pas
import PasSystem
import PasTestSupport
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

final class Counter: @unchecked Sendable {
    let spin = SpinLock()
    let futex = FutexLock()
    var a = 0
    var b = 0
}

@Suite struct LockTests {
    @Test func spinLockExcludes() {
        let c = Counter()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0 ..< 50_000 { c.spin.withLock { c.a += 1 } }
        }
        #expect(c.a == 200_000)
        let locked = c.spin.isLocked
        #expect(!locked)
        let first = c.spin.tryLock(), second = c.spin.tryLock()
        #expect(first && !second)
        c.spin.unlock()
    }

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

    @Test func lockInRawMemory() {
        let p = UnsafeMutablePointer<SpinLock>.allocate(capacity: 1)
        p.initialize(to: SpinLock())
        p.pointee.lock()
        let locked = p.pointee.isLocked
        #expect(locked)
        p.pointee.unlock()
        p.deinitialize(count: 1)
        p.deallocate()
    }
}
