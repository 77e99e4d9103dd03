import PasSystem

/// The error of `JITHeap.withWritableBytes(of:_:)` when its body throws `BodyError`: either
/// the heap could not open or close the write scope, or the body threw.
public enum WriteScopeError<BodyError: Error>: Error {
    /// The heap failed: the block is not live, or write access could not be opened or closed.
    /// `body` did not run, or ran to its end.
    case heap(PasError)
    /// `body` threw; the scope was closed and the instruction cache flushed as usual.
    case body(BodyError)
}

extension WriteScopeError: Equatable where BodyError: Equatable {}
