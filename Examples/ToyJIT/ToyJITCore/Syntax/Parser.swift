/// Recursive-descent parser for the toy language.
///
/// Grammar:
/// ```
/// program   := function*
/// function  := "fn" name "(" [name ("," name)*] ")" block
/// block     := "{" statement* "}"
/// statement := "let" name "=" expr ";" | name "=" expr ";"
///            | "if" expr block ["else" (block | if-statement)]
///            | "while" expr block | "return" [expr] ";" | expr ";"
/// expr      := or;  or := and ("||" and)*;  and := equality ("&&" equality)*
/// equality  := relation (("==" | "!=") relation)*
/// relation  := sum (("<" | "<=" | ">" | ">=") sum)*
/// sum       := product (("+" | "-") product)*
/// product   := unary (("*" | "/" | "%") unary)*
/// unary     := ("-" | "!") unary | primary
/// primary   := integer | name | name "(" [expr ("," expr)*] ")" | "(" expr ")"
/// ```
/// Cost: linear in the source. Thread-safety: a value; use one per thread.
public struct Parser {
    private var tokens: [Token]
    private var position = 0
    /// Nesting depth of expressions and blocks, bounded so deep input cannot overflow the stack.
    private var depth = 0
    private static let maximumDepth = 200

    /// Tokenizes `source`; throws the first lexical error.
    public init(_ source: String) throws(SourceError) {
        var lexer = Lexer(source)
        tokens = try lexer.tokenize()
    }

    /// Parses a whole program: a sequence of function definitions.
    public mutating func parseProgram() throws(SourceError) -> [SyntaxFunction] {
        var functions: [SyntaxFunction] = []
        while current.kind != .end { functions.append(try parseFunction()) }
        return functions
    }

    /// Parses one function definition and requires the input to end after it.
    public mutating func parseSingleFunction() throws(SourceError) -> SyntaxFunction {
        let function = try parseFunction()
        guard current.kind == .end else { throw error("expected end of input after the function") }
        return function
    }

    private var current: Token { tokens[position] }

    private func error(_ message: String) -> SourceError {
        SourceError("\(message), found \(describe(current.kind))", at: current.location)
    }

    private func describe(_ kind: TokenKind) -> String {
        switch kind {
        case let .integer(v): return "'\(v)'"
        case let .identifier(n): return "'\(n)'"
        case let .keyword(k): return "'\(k.rawValue)'"
        case let .symbol(s): return "'\(s)'"
        case .end: return "end of input"
        }
    }

    private mutating func accept(_ symbol: String) -> Bool {
        if current.kind == .symbol(symbol) {
            position += 1
            return true
        }
        return false
    }

    private mutating func expect(_ symbol: String) throws(SourceError) {
        guard accept(symbol) else { throw error("expected '\(symbol)'") }
    }

    private mutating func expectName() throws(SourceError) -> (String, SourceLocation) {
        guard case let .identifier(name) = current.kind else { throw error("expected a name") }
        let location = current.location
        position += 1
        return (name, location)
    }

    private mutating func enter() throws(SourceError) {
        depth += 1
        if depth > Parser.maximumDepth { throw SourceError("nesting too deep", at: current.location) }
    }

    private mutating func parseFunction() throws(SourceError) -> SyntaxFunction {
        guard current.kind == .keyword(.fn) else { throw error("expected 'fn'") }
        position += 1
        let (name, location) = try expectName()
        try expect("(")
        var parameters: [String] = []
        if !accept(")") {
            repeat { parameters.append(try expectName().0) } while accept(",")
            try expect(")")
        }
        let body = try parseBlock()
        return SyntaxFunction(name: name, parameters: parameters, body: body, location: location)
    }

    private mutating func parseBlock() throws(SourceError) -> [SyntaxStatement] {
        try enter()
        defer { depth -= 1 }
        try expect("{")
        var statements: [SyntaxStatement] = []
        while !accept("}") {
            if current.kind == .end { throw error("expected '}'") }
            statements.append(try parseStatement())
        }
        return statements
    }

    private mutating func parseStatement() throws(SourceError) -> SyntaxStatement {
        let location = current.location
        switch current.kind {
        case .keyword(.let):
            position += 1
            let (name, nameLocation) = try expectName()
            try expect("=")
            let value = try parseExpression()
            try expect(";")
            return .let(name, value, nameLocation)
        case .keyword(.if):
            return try parseIf()
        case .keyword(.while):
            position += 1
            let condition = try parseExpression()
            return .while(condition, try parseBlock())
        case .keyword(.return):
            position += 1
            if accept(";") { return .return(nil, location) }
            let value = try parseExpression()
            try expect(";")
            return .return(value, location)
        case let .identifier(name) where tokens[position + 1].kind == .symbol("="):
            position += 2
            let value = try parseExpression()
            try expect(";")
            return .assign(name, value, location)
        default:
            let value = try parseExpression()
            try expect(";")
            return .expression(value)
        }
    }

    private mutating func parseIf() throws(SourceError) -> SyntaxStatement {
        try enter()
        defer { depth -= 1 }
        position += 1 // "if"
        let condition = try parseExpression()
        let then = try parseBlock()
        guard current.kind == .keyword(.else) else { return .if(condition, then, []) }
        position += 1
        if current.kind == .keyword(.if) { return .if(condition, then, [try parseIf()]) }
        return .if(condition, then, try parseBlock())
    }

    private static let levels: [[BinaryOperator]] = [
        [.or], [.and], [.equal, .notEqual],
        [.less, .lessOrEqual, .greater, .greaterOrEqual],
        [.add, .subtract], [.multiply, .divide, .remainder],
    ]

    private mutating func parseExpression() throws(SourceError) -> SyntaxExpression {
        try enter()
        defer { depth -= 1 }
        return try parseBinary(level: 0)
    }

    private mutating func parseBinary(level: Int) throws(SourceError) -> SyntaxExpression {
        if level == Parser.levels.count { return try parseUnary() }
        var left = try parseBinary(level: level + 1)
        outer: while true {
            for op in Parser.levels[level] where current.kind == .symbol(op.rawValue) {
                let location = current.location
                position += 1
                let right = try parseBinary(level: level + 1)
                left = .binary(op, left, right, location)
                continue outer
            }
            return left
        }
    }

    private mutating func parseUnary() throws(SourceError) -> SyntaxExpression {
        let location = current.location
        for op in [UnaryOperator.negate, .not] where accept(op.rawValue) {
            try enter()
            defer { depth -= 1 }
            return .unary(op, try parseUnary(), location)
        }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(SourceError) -> SyntaxExpression {
        let location = current.location
        switch current.kind {
        case let .integer(value):
            position += 1
            return .integer(value, location)
        case let .identifier(name):
            position += 1
            guard accept("(") else { return .variable(name, location) }
            var arguments: [SyntaxExpression] = []
            if !accept(")") {
                repeat { arguments.append(try parseExpression()) } while accept(",")
                try expect(")")
            }
            return .call(name, arguments, location)
        case .symbol("("):
            position += 1
            let inner = try parseExpression()
            try expect(")")
            return inner
        default:
            throw error("expected an expression")
        }
    }
}
