import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// The values of `pas_error_code` (pas_error.h). Stable: new codes are only appended.
public enum PasErrorCode: Int32, Sendable, CaseIterable {
    case ok = 0
    case system = 1
    case invalidSize = 2
    case invalidAlignment = 3
    case misaligned = 4
    case outsideReservation = 5
    case notReserved = 6
    case outOfMemory = 7
    case unknownPointer = 8
    case doubleFree = 9
    case outOfBounds = 10
    case unsupported = 11
    case corrupted = 12
    case invalidArgument = 13
    case invalidHandle = 14

    /// The C name of the code, as a static NUL-terminated string.
    var cName: StaticString {
        switch self {
        case .ok: return "PAS_OK"
        case .system: return "PAS_ERROR_SYSTEM"
        case .invalidSize: return "PAS_ERROR_INVALID_SIZE"
        case .invalidAlignment: return "PAS_ERROR_INVALID_ALIGNMENT"
        case .misaligned: return "PAS_ERROR_MISALIGNED"
        case .outsideReservation: return "PAS_ERROR_OUTSIDE_RESERVATION"
        case .notReserved: return "PAS_ERROR_NOT_RESERVED"
        case .outOfMemory: return "PAS_ERROR_OUT_OF_MEMORY"
        case .unknownPointer: return "PAS_ERROR_UNKNOWN_POINTER"
        case .doubleFree: return "PAS_ERROR_DOUBLE_FREE"
        case .outOfBounds: return "PAS_ERROR_OUT_OF_BOUNDS"
        case .unsupported: return "PAS_ERROR_UNSUPPORTED"
        case .corrupted: return "PAS_ERROR_CORRUPTED"
        case .invalidArgument: return "PAS_ERROR_INVALID_ARGUMENT"
        case .invalidHandle: return "PAS_ERROR_INVALID_HANDLE"
        }
    }
}

extension PasError {
    /// The C code, errno and address that report this error through the C API.
    var cReport: (code: PasErrorCode, errno: Int32, address: UInt) {
        switch self {
        case let .system(_, e): return (.system, e, 0)
        case .invalidSize: return (.invalidSize, EINVAL, 0)
        case .invalidAlignment: return (.invalidAlignment, EINVAL, 0)
        case let .misaligned(_, address, _): return (.misaligned, EINVAL, address)
        case let .outsideReservation(_, address, _): return (.outsideReservation, EINVAL, address)
        case let .overlapping(_, address, _): return (.outsideReservation, EINVAL, address)
        case let .notReserved(_, address): return (.notReserved, EINVAL, address)
        case .outOfMemory: return (.outOfMemory, ENOMEM, 0)
        case let .unknownPointer(_, address): return (.unknownPointer, EINVAL, address)
        case let .doubleFree(_, address): return (.doubleFree, EINVAL, address)
        case let .outOfBounds(_, address, _): return (.outOfBounds, EINVAL, address)
        case .unsupported: return (.unsupported, ENOTSUP, 0)
        case let .corrupted(_, address, _): return (.corrupted, EIO, address)
        case let .unusableMemory(_, address, _, _): return (.invalidArgument, EINVAL, address)
        case let .reentrantWrite(_, address): return (.invalidArgument, EDEADLK, address)
        }
    }
}

extension PasError {
    /// The description for a C caller. Every size and alignment the C API passes on came
    /// from a `size_t` as `Int(bitPattern:)` (see `cSize`), so a negative one is printed as
    /// the unsigned value the caller passed, never as a negative number.
    var cDescription: String {
        func unsigned(_ value: Int) -> String { String(UInt(bitPattern: value)) }
        switch self {
        case let .invalidSize(op, size) where size < 0:
            return "\(op.rawValue): invalid size \(unsigned(size))"
        case let .invalidAlignment(op, alignment) where alignment < 0:
            return "\(op.rawValue): invalid alignment \(unsigned(alignment)) (must be a power of two within limits)"
        case let .outOfMemory(op, requested) where requested < 0:
            return "\(op.rawValue): out of memory for \(unsigned(requested)) bytes"
        case let .outOfBounds(op, address, byteCount) where byteCount < 0:
            return "\(op.rawValue): 0x\(String(address, radix: 16))+\(unsigned(byteCount)) reaches outside its object"
        case let .outsideReservation(op, address, byteCount) where byteCount < 0:
            return "\(op.rawValue): range 0x\(String(address, radix: 16))+\(unsigned(byteCount)) is outside any reservation"
        case let .overlapping(op, address, byteCount) where byteCount < 0:
            return "\(op.rawValue): range 0x\(String(address, radix: 16))+\(unsigned(byteCount)) overlaps an existing region"
        default:
            return description
        }
    }
}

/// The calling thread's last-error record, read by `pas_last_error*()`.
///
/// Each thread that ever fails gets one record, allocated with `calloc` on its first failure
/// (an error path, never an allocation fast path) and freed by the thread-exit destructor of
/// a pthread key. Layout: code (Int32) at 0, errno (Int32) at 4, address (UInt) at 8, the
/// NUL-terminated message at 16 ..< 16 + messageCapacity.
enum LastError {
    static let messageOffset = 16
    static let messageCapacity = 240
    static let recordSize = messageOffset + messageCapacity

    /// The key of the per-thread record. Created once (Swift globals initialise exactly once,
    /// thread-safely); never deleted. Nil if the process ran out of keys: errors then set
    /// only errno, and `pas_last_error()` reports PAS_OK.
    static let key: pthread_key_t? = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, { record in free(record) }) == 0 else { return nil }
        return key
    }()

    /// The calling thread's record, or nil if it never failed (or calloc failed).
    @inline(__always)
    static var current: UnsafeMutableRawPointer? {
        guard let key else { return nil }
        return pthread_getspecific(key)
    }

    /// The calling thread's record, created if needed; nil only if calloc or the key failed.
    static func currentOrCreate() -> UnsafeMutableRawPointer? {
        if let record = current { return record }
        guard let key, let record = calloc(1, recordSize) else { return nil }
        guard pthread_setspecific(key, record) == 0 else { free(record); return nil }
        return record
    }

    /// Records an error for the calling thread and sets errno.
    static func record(_ code: PasErrorCode, errno e: Int32, address: UInt, message: String) {
        if let record = currentOrCreate() {
            // Invariant: `record` is this thread's calloc'd block of `recordSize` bytes.
            record.storeBytes(of: code.rawValue, toByteOffset: 0, as: Int32.self)
            record.storeBytes(of: e, toByteOffset: 4, as: Int32.self)
            record.storeBytes(of: address, toByteOffset: 8, as: UInt.self)
            let text = record + messageOffset
            var n = 0
            for byte in message.utf8 where n < messageCapacity - 1 {
                text.storeBytes(of: byte, toByteOffset: n, as: UInt8.self)
                n += 1
            }
            text.storeBytes(of: 0, toByteOffset: n, as: UInt8.self)
        }
        errno = e
    }

    /// Records a `PasError`.
    static func record(_ error: PasError) {
        let report = error.cReport
        record(report.code, errno: report.errno, address: report.address, message: error.cDescription)
    }

    /// Records a `PasError` with `context` (e.g. the heap's name) before its description.
    static func record(_ error: PasError, context: String) {
        let report = error.cReport
        record(report.code, errno: report.errno, address: report.address, message: "\(context): \(error.cDescription)")
    }

    /// `body`'s result or, if it throws, `failure` once the error is recorded (after
    /// `context`, if given): the shape of every C API function that returns a value. Cost:
    /// none beyond `body` unless it throws (inlined; `context` is evaluated only on failure).
    @inline(__always)
    static func catching<R>(
        orReturn failure: R, context: @autoclosure () -> String? = nil,
        _ body: () throws(PasError) -> R
    ) -> R {
        catching(context: context(), body) { _ in failure }
    }

    /// `PAS_OK` if `body` returns, or the code of the error it throws once the error is
    /// recorded (after `context`, if given): the shape of every C API function that returns
    /// a `pas_error_code`. Cost as for `catching(orReturn:context:_:)`.
    @inline(__always)
    static func status(context: @autoclosure () -> String? = nil, _ body: () throws(PasError) -> Void) -> Int32 {
        catching(
            context: context(),
            { () throws(PasError) in
                try body()
                return PasErrorCode.ok.rawValue
            },
            failure: { $0.cReport.code.rawValue })
    }

    /// `body`'s result or, if it throws, `failure(error)` once the error is recorded.
    @inline(__always)
    private static func catching<R>(
        context: @autoclosure () -> String?, _ body: () throws(PasError) -> R,
        failure: (PasError) -> R
    ) -> R {
        do {
            return try body()
        } catch {
            if let context = context() { record(error, context: context) } else { record(error) }
            return failure(error)
        }
    }

    /// Records a misuse of the C API that `PasError` has no case for (NULL heap, bad options).
    static func recordInvalidArgument(_ function: String, _ what: String) {
        record(.invalidArgument, errno: EINVAL, address: 0, message: "\(function): \(what)")
    }

    /// Resets the calling thread's record (nothing to do if it has none).
    static func clear() {
        guard let record = current else { return }
        // Invariant: as in `record`.
        record.storeBytes(of: 0, toByteOffset: 0, as: Int32.self)
        record.storeBytes(of: 0, toByteOffset: 4, as: Int32.self)
        record.storeBytes(of: 0, toByteOffset: 8, as: UInt.self)
        record.storeBytes(of: 0, toByteOffset: messageOffset, as: UInt8.self)
    }
}

/// `pas_error_code pas_last_error(void)`: the calling thread's last recorded error code.
@_cdecl("pas_last_error")
public func pas_last_error() -> Int32 {
    guard let record = LastError.current else { return PasErrorCode.ok.rawValue }
    return record.load(fromByteOffset: 0, as: Int32.self)
}

/// `int pas_last_error_errno(void)`: the errno of the last recorded error, or 0.
@_cdecl("pas_last_error_errno")
public func pas_last_error_errno() -> Int32 {
    guard let record = LastError.current else { return 0 }
    return record.load(fromByteOffset: 4, as: Int32.self)
}

/// `uintptr_t pas_last_error_address(void)`: the address the last recorded error names, or 0.
@_cdecl("pas_last_error_address")
public func pas_last_error_address() -> UInt {
    guard let record = LastError.current else { return 0 }
    return record.load(fromByteOffset: 8, as: UInt.self)
}

/// The empty message for threads without a record.
private let emptyMessage: StaticString = ""

/// `const char* pas_last_error_message(void)`: the thread's message (owned by the thread).
@_cdecl("pas_last_error_message")
public func pas_last_error_message() -> UnsafePointer<CChar> {
    guard let record = LastError.current else {
        // Invariant: a StaticString's storage is immutable and lives for the whole process.
        return UnsafeRawPointer(emptyMessage.utf8Start).assumingMemoryBound(to: CChar.self)
    }
    return UnsafePointer((record + LastError.messageOffset).assumingMemoryBound(to: CChar.self))
}

/// `void pas_clear_last_error(void)`.
@_cdecl("pas_clear_last_error")
public func pas_clear_last_error() {
    LastError.clear()
}

/// `const char* pas_error_name(pas_error_code code)`: a static name for the code.
@_cdecl("pas_error_name")
public func pas_error_name(_ code: Int32) -> UnsafePointer<CChar> {
    let name: StaticString = PasErrorCode(rawValue: code)?.cName ?? "PAS_ERROR_UNKNOWN_CODE"
    // Invariant: a StaticString's storage is immutable, NUL-terminated and lives for the whole process.
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}
