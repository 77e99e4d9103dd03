/// The system call or allocator step that failed. The raw value is the name an error
/// message shows.
public enum PasOperation: String, Sendable, Equatable {
    /// Page source and virtual memory operations (`PageSource`, `VirtualMemory`).
    case reserve, commit, decommit, protect, release
    /// Creating a memory file.
    case memfdCreate = "memfd_create"
    /// Sizing a memory file.
    case truncate = "ftruncate"
    /// Freeing a memory file's pages.
    case punchHole = "fallocate(PUNCH_HOLE)"
    /// Mapping a view of a memory file.
    case mapView = "mmap(view)"
    /// Reading a file's status or a `/proc` file.
    case stat = "fstat"
    /// Listing a memory file's data extents.
    case seekData = "lseek(SEEK_DATA)"
    /// Copying a memory file.
    case copyFile = "copy_file_range"
    /// Installing fork handlers.
    case atfork = "pthread_atfork"
    /// Heap operations.
    case allocate, deallocate, shrink, reallocate, sizeQuery = "size(of:)"
    /// Writing code through a write scope.
    case write
    /// Checking a heap's invariants.
    case verify
}

/// Every error Pas reports. System failures carry the operation and `errno`; misuse of
/// an allocator API carries the offending size, alignment or address.
public enum PasError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(PasOperation, errno: Int32)
    /// A size of zero, a negative size, a size that is not a multiple of what the
    /// operation requires, or one so large that rounding it overflows.
    case invalidSize(PasOperation, Int)
    /// An alignment that is zero, not a power of two, or larger than supported.
    case invalidAlignment(PasOperation, Int)
    /// An address that is not aligned as the operation requires.
    case misaligned(PasOperation, address: UInt, alignment: Int)
    /// A range that does not lie inside one live reservation of the page source.
    case outsideReservation(PasOperation, address: UInt, byteCount: Int)
    /// A range handed to a heap that overlaps memory the heap already has (for example fresh
    /// code memory given twice).
    case overlapping(PasOperation, address: UInt, byteCount: Int)
    /// Release of a range that is not (or no longer) reserved: a double release.
    case notReserved(PasOperation, address: UInt)
    /// The heap or region cannot satisfy the request.
    case outOfMemory(PasOperation, requested: Int)
    /// A pointer that this heap never allocated, or that points inside an object.
    case unknownPointer(PasOperation, address: UInt)
    /// A pointer that was allocated by this heap but is already free.
    case doubleFree(PasOperation, address: UInt)
    /// An access that would reach outside the object it names (for example a write past
    /// the end of a code block).
    case outOfBounds(PasOperation, address: UInt, byteCount: Int)
    /// The requested feature is refused by this kernel or configuration.
    case unsupported(PasOperation, reason: String)
    /// A heap's metadata breaks one of its invariants (found by a `verify()`); `address` names
    /// the page or object concerned.
    case corrupted(PasOperation, address: UInt, reason: String)
    /// Memory handed to a heap that it cannot use: a range that is not mapped in full, or that
    /// holds a thread's stack or a mapping of something other than anonymous memory or a
    /// memory file. `reason` says which.
    case unusableMemory(PasOperation, address: UInt, byteCount: Int, reason: String)
    /// A heap operation called from inside a write scope that the calling thread holds open on
    /// the same code region (a `.toggled` region's `withWritableBytes` body calling back into
    /// the heap), which would otherwise wait forever for the scope to close. `address` is the
    /// start of the open scope.
    case reentrantWrite(PasOperation, address: UInt)

    /// The operation, what went wrong, and the values concerned (errno with its name, sizes,
    /// addresses in hex), in one line.
    public var description: String {
        switch self {
        case let .system(op, errno):
            return "\(op.rawValue) failed: \(PasError.errnoName(errno)) (errno \(errno))"
        case let .invalidSize(op, size):
            return "\(op.rawValue): invalid size \(size)"
        case let .invalidAlignment(op, alignment):
            return "\(op.rawValue): invalid alignment \(alignment) (must be a power of two within limits)"
        case let .misaligned(op, address, alignment):
            return "\(op.rawValue): address 0x\(String(address, radix: 16)) is not aligned to \(alignment)"
        case let .outsideReservation(op, address, byteCount):
            return "\(op.rawValue): range 0x\(String(address, radix: 16))+\(byteCount) is outside any reservation"
        case let .overlapping(op, address, byteCount):
            return "\(op.rawValue): range 0x\(String(address, radix: 16))+\(byteCount) overlaps an existing region"
        case let .notReserved(op, address):
            return "\(op.rawValue): 0x\(String(address, radix: 16)) is not reserved (double release?)"
        case let .outOfMemory(op, requested):
            return "\(op.rawValue): out of memory for \(requested) bytes"
        case let .unknownPointer(op, address):
            return "\(op.rawValue): 0x\(String(address, radix: 16)) was not allocated by this heap"
        case let .doubleFree(op, address):
            return "\(op.rawValue): 0x\(String(address, radix: 16)) is already free (double free)"
        case let .outOfBounds(op, address, byteCount):
            return "\(op.rawValue): 0x\(String(address, radix: 16))+\(byteCount) reaches outside its object"
        case let .unsupported(op, reason):
            return "\(op.rawValue): unsupported: \(reason)"
        case let .corrupted(op, address, reason):
            return "\(op.rawValue): heap metadata corrupted at 0x\(String(address, radix: 16)): \(reason)"
        case let .unusableMemory(op, address, byteCount, reason):
            return "\(op.rawValue): range 0x\(String(address, radix: 16))+\(byteCount) cannot be used as code memory: \(reason)"
        case let .reentrantWrite(op, address):
            return
                "\(op.rawValue): called from inside the write scope this thread holds open at 0x\(String(address, radix: 16)); "
                + "a toggled-mode write body must not call back into the heap"
        }
    }

    /// This error as reported by `operation`: a pointer error (`unknownPointer`, `doubleFree`)
    /// found by a step the caller did not call (a size lookup inside a free) names the
    /// caller's operation instead; other errors are unchanged.
    public func reported(as operation: PasOperation) -> PasError {
        switch self {
        case let .unknownPointer(_, address): return .unknownPointer(operation, address: address)
        case let .doubleFree(_, address): return .doubleFree(operation, address: address)
        default: return self
        }
    }

    /// The errno of a system failure, or nil. Cost: a pattern match.
    public var errno: Int32? {
        if case let .system(_, e) = self { return e }
        return nil
    }

    static func errnoName(_ e: Int32) -> String { Errno.name(of: e) }
}
