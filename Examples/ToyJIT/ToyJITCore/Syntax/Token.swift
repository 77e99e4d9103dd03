/// One lexical unit of toy source.
public enum TokenKind: Equatable, Sendable {
    case integer(Int64)
    case identifier(String)
    case keyword(Keyword)
    case symbol(String)
    case end
}

/// Reserved words of the toy language.
public enum Keyword: String, Sendable, CaseIterable {
    case fn, `let`, `if`, `else`, `while`, `return`
}

/// A token with the location of its first character.
public struct Token: Equatable, Sendable {
    /// What the token is.
    public var kind: TokenKind
    /// Where the token's first character is.
    public var location: SourceLocation
}

/// Splits source text into tokens. Comments run from `//` to the end of the line.
/// Cost: linear in the source length. Thread-safety: a value; use one per thread.
public struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1

    /// Creates a lexer over `source`.
    public init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    private static let symbols: [String] = [
        "==", "!=", "<=", ">=", "&&", "||",
        "+", "-", "*", "/", "%", "<", ">", "=", "!", "(", ")", "{", "}", ",", ";",
    ]

    /// Returns every token of the source, ending with `.end`.
    public mutating func tokenize() throws(SourceError) -> [Token] {
        var tokens: [Token] = []
        while true {
            let token = try next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private mutating func next() throws(SourceError) -> Token {
        // Skip white space and comments.
        while let c = peek() {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                advance()
            } else if c == "/" && peek(1) == "/" {
                while let d = peek(), d != "\n" { advance() }
            } else {
                break
            }
        }
        let start = SourceLocation(line: line, column: column)
        guard let c = peek() else { return Token(kind: .end, location: start) }
        if c.properties.numericType != nil && c.isASCII {
            var value: Int64 = 0
            while let d = peek(), d.isASCII, let digit = Int64(String(d)) {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(digit)
                if o1 || o2 { throw SourceError("integer literal too large", at: start) }
                value = sum
                advance()
            }
            return Token(kind: .integer(value), location: start)
        }
        if c == "_" || (c.isASCII && c.properties.isAlphabetic) {
            var text = ""
            while let d = peek(), d == "_" || (d.isASCII && (d.properties.isAlphabetic || d.properties.numericType != nil)) {
                text.unicodeScalars.append(d)
                advance()
            }
            if let keyword = Keyword(rawValue: text) { return Token(kind: .keyword(keyword), location: start) }
            return Token(kind: .identifier(text), location: start)
        }
        for symbol in Lexer.symbols {
            let parts = Array(symbol.unicodeScalars)
            if (0 ..< parts.count).allSatisfy({ peek($0) == parts[$0] }) {
                for _ in parts { advance() }
                return Token(kind: .symbol(symbol), location: start)
            }
        }
        throw SourceError("unexpected character '\(c)'", at: start)
    }
}
