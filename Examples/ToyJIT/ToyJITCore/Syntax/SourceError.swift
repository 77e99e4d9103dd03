/// A position in toy source text, 1-based.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    /// Line number, starting at 1.
    public var line: Int
    /// Column number (in Unicode scalars), starting at 1.
    public var column: Int

    /// Creates a location.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The location as `line:column`.
    public var description: String { "\(line):\(column)" }
}

/// An error in a toy program: a syntax error, an undefined or duplicated name, a wrong
/// argument count, or a limit of the compiler exceeded. The description reads
/// `line:column: message`.
public struct SourceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where the problem is.
    public var location: SourceLocation
    /// What the problem is.
    public var message: String

    /// Creates an error at `location`.
    public init(_ message: String, at location: SourceLocation) {
        self.location = location
        self.message = message
    }

    /// The error as `line:column: message`.
    public var description: String { "\(location): \(message)" }
}
