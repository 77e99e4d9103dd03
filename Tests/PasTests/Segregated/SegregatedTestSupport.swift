#if canImport(Glibc)
import Glibc
#endif
import Pas
import PasSystem

/// Moves a non-Sendable value (a pointer, an array of pointers) into another thread.
/// Invariant: the tests hand each value to one thread at a time.
struct Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Runs `body` on a new POSIX thread and waits for it to exit (including its thread-local
/// destructors, which return the thread cache's pages).
func runOnNewThread(_ body: @escaping @Sendable () -> Void) {
    let tid = startThread(body)
    pthread_join(tid, nil)
}

/// Starts `body` on a new POSIX thread; join it with `pthread_join`.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    var tid = pthread_t()
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { context in
        let box = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return tid
}

/// xorshift64* for randomised tests; print the seed in expectations.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

typealias SmallHeap = SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>
typealias MediumHeap = SegregatedHeap<MediumPagesConfig, ReservationChunkSource<SystemPageSource>>

func sched_yield_() { _ = sched_yield() }
func pthread_join_(_ t: pthread_t) { pthread_join(t, nil) }
