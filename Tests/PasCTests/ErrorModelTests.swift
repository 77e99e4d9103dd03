import Testing
import Foundation
@testable import PasC
import PasSystem
import PasTestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ErrorModelTests {
    /// Every `PasError` case maps to its C code, errno and address, and the message is its description.
    @Test(
        arguments: [
            (PasError.system(.commit, errno: EACCES), PasErrorCode.system, EACCES, UInt(0)),
            (.invalidSize(.allocate, 0), .invalidSize, EINVAL, 0),
            (.invalidAlignment(.allocate, 3), .invalidAlignment, EINVAL, 0),
            (.misaligned(.reserve, address: 0x1001, alignment: 4096), .misaligned, EINVAL, 0x1001),
            (.outsideReservation(.reserve, address: 0x2000, byteCount: 4096), .outsideReservation, EINVAL, 0x2000),
            (.notReserved(.release, address: 0x3000), .notReserved, EINVAL, 0x3000),
            (.outOfMemory(.allocate, requested: 1 << 40), .outOfMemory, ENOMEM, 0),
            (.unknownPointer(.deallocate, address: 0x4000), .unknownPointer, EINVAL, 0x4000),
            (.doubleFree(.deallocate, address: 0x5000), .doubleFree, EINVAL, 0x5000),
            (.outOfBounds(.write, address: 0x6000, byteCount: 8), .outOfBounds, EINVAL, 0x6000),
            (.unsupported(.reserve, reason: "no memfd"), .unsupported, ENOTSUP, 0),
            (.corrupted(.verify, address: 0x7000, reason: "bad bit"), .corrupted, EIO, 0x7000),
        ] as [(PasError, PasErrorCode, Int32, UInt)])
    func pasErrorsMapToCodes(error: PasError, code: PasErrorCode, errnoValue: Int32, address: UInt) {
        pas_clear_last_error()
        errno = 0
        LastError.record(error)
        #expect(pas_last_error() == code.rawValue)
        #expect(pas_last_error_errno() == errnoValue)
        #expect(errno == errnoValue)
        #expect(pas_last_error_address() == address)
        #expect(String(cString: pas_last_error_message()) == error.description)
        pas_clear_last_error()
        #expect(pas_last_error() == 0)
        #expect(pas_last_error_errno() == 0)
        #expect(pas_last_error_address() == 0)
        #expect(String(cString: pas_last_error_message()) == "")
    }

    @Test func longMessagesAreTruncatedAndTerminated() {
        let reason = String(repeating: "x", count: 1000)
        LastError.record(.unsupported(.reserve, reason: reason))
        let message = String(cString: pas_last_error_message())
        #expect(message.utf8.count == LastError.messageCapacity - 1)
        #expect(message.hasPrefix("reserve: unsupported: xxx"))
        // A shorter message afterwards is not polluted by the longer one.
        LastError.record(.invalidSize(.allocate, 0))
        #expect(String(cString: pas_last_error_message()) == "allocate: invalid size 0")
        pas_clear_last_error()
    }

    /// The codes of `pas_error_code` as pas_error.h declares them: (name, value) for each
    /// `PAS_... = N` line of the enum.
    static func headerErrorCodes() throws -> [(name: String, value: Int32)] {
        let header = CToolchain.packageRoot.appendingPathComponent("Sources/PasC/include/pas_error.h").path
        let text = try String(contentsOfFile: header, encoding: .utf8)
        guard let start = text.range(of: "typedef enum pas_error_code {"),
            let end = text.range(of: "} pas_error_code;", range: start.upperBound ..< text.endIndex)
        else { return [] }
        var codes: [(name: String, value: Int32)] = []
        for line in text[start.upperBound ..< end.lowerBound].split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("PAS_") else { continue }
            let parts = trimmed.split(separator: "=").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " ,")) }
            guard parts.count == 2, let value = Int32(parts[1]) else { continue }
            codes.append((parts[0], value))
        }
        return codes
    }

    /// `pas_error_name` against the header's enum: every code there has its own name, and
    /// the header and `PasErrorCode` list the same codes.
    @Test func everyCodeHasItsName() throws {
        let codes = try Self.headerErrorCodes()
        try #require(codes.count >= 14, "parsed only \(codes.count) codes from pas_error.h")
        for (name, value) in codes {
            #expect(String(cString: pas_error_name(value)) == name, "pas_error_name(\(value))")
        }
        #expect(
            Set(codes.map(\.value)) == Set(PasErrorCode.allCases.map(\.rawValue)),
            "pas_error.h and PasErrorCode list different codes")
        #expect(Set(codes.map(\.name)).count == codes.count, "two codes share a name in pas_error.h")
        let beyond = (codes.map(\.value).max() ?? 0) + 1
        #expect(String(cString: pas_error_name(-1)) == "PAS_ERROR_UNKNOWN_CODE")
        #expect(String(cString: pas_error_name(beyond)) == "PAS_ERROR_UNKNOWN_CODE")
    }

    @Test func errorsStayOnTheirThread() throws {
        pas_clear_last_error()
        LastError.record(.doubleFree(.deallocate, address: 0x10))
        var seenElsewhere: Int32 = -1
        runOnNewThread {
            seenElsewhere = pas_last_error()
            // An error here must not show on the creating thread.
            LastError.record(.outOfMemory(.allocate, requested: 1))
        }
        #expect(seenElsewhere == PasErrorCode.ok.rawValue)
        #expect(pas_last_error() == PasErrorCode.doubleFree.rawValue)
        pas_clear_last_error()
    }
}
