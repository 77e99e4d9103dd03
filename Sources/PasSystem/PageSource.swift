/// Where heaps get address space and physical pages from.
///
/// Heaps are generic over their page source so that tests can substitute a recording mock
/// (see `PasTestSupport.RecordingPageSource`) that sees every operation and fails on demand.
/// None of these operations is on an allocation fast path.
///
/// Contract for every conformer:
/// - `reserve` returns a page-aligned range with no access.
/// - `commit`, `decommit` and `protect` take page-aligned ranges inside one live reservation;
///   anything else is `PasError.misaligned`, `.invalidSize` or `.outsideReservation`.
/// - `release` takes exactly a range that `reserve` returned; a second release is
///   `PasError.notReserved`.
/// - After `decommit`, the range stays accessible and reads as zero; touching it again
///   re-commits it transparently.
public protocol PageSource: AnyObject, Sendable {
    /// Granularity of every operation.
    var pageSize: Int { get }
    /// Reserves `byteCount` bytes of address space (rounded up to pages) at a multiple of
    /// `alignment` (a power of two), with no access.
    func reserve(byteCount: Int, alignment: Int) throws(PasError) -> MemoryRange
    /// Makes `range` accessible with `protection`; its pages are backed on first touch.
    func commit(_ range: MemoryRange, protection: Protection) throws(PasError)
    /// Returns the physical pages of `range`; it stays accessible and reads zero.
    func decommit(_ range: MemoryRange) throws(PasError)
    /// Changes the access rights of `range`.
    func protect(_ range: MemoryRange, to protection: Protection) throws(PasError)
    /// Gives back a whole range that `reserve` returned.
    func release(_ range: MemoryRange) throws(PasError)
}

extension PageSource {
    /// Checks that `range` is page aligned and non-empty. A few compares; any thread.
    @inlinable
    public func validate(_ range: MemoryRange, for operation: PasOperation) throws(PasError) {
        guard range.byteCount > 0, range.byteCount % pageSize == 0 else {
            throw .invalidSize(operation, range.byteCount)
        }
        guard Alignment.isAligned(range.start, to: pageSize) else {
            throw .misaligned(operation, address: range.start, alignment: pageSize)
        }
        guard range.start != 0, range.end > range.start else {
            throw .outsideReservation(operation, address: range.start, byteCount: range.byteCount)
        }
    }
}
