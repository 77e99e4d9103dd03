/// Binary operators of the toy language. Arithmetic wraps on overflow (two's complement);
/// `a / 0 == 0` and `a % 0 == a`, so `(a / b) * b + a % b == a` always holds, and
/// `Int64.min / -1 == Int64.min`. Comparisons and `&&`/`||` give 1 or 0; `&&` and `||`
/// evaluate their right side only when needed.
public enum BinaryOperator: String, Sendable, CaseIterable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case equal = "==", notEqual = "!="
    case and = "&&", or = "||"
}

/// Unary operators: `-x` wraps, `!x` is 1 when x is 0 and 0 otherwise.
public enum UnaryOperator: String, Sendable {
    case negate = "-", not = "!"
}

/// An expression as written, with names and locations.
public indirect enum SyntaxExpression: Sendable {
    case integer(Int64, SourceLocation)
    case variable(String, SourceLocation)
    case call(String, [SyntaxExpression], SourceLocation)
    case unary(UnaryOperator, SyntaxExpression, SourceLocation)
    case binary(BinaryOperator, SyntaxExpression, SyntaxExpression, SourceLocation)
}

/// A statement as written.
public indirect enum SyntaxStatement: Sendable {
    case `let`(String, SyntaxExpression, SourceLocation)
    case assign(String, SyntaxExpression, SourceLocation)
    case `if`(SyntaxExpression, [SyntaxStatement], [SyntaxStatement])
    case `while`(SyntaxExpression, [SyntaxStatement])
    case `return`(SyntaxExpression?, SourceLocation)
    case expression(SyntaxExpression)
}

/// A function definition as written: `fn name(a, b) { ... }`.
public struct SyntaxFunction: Sendable {
    /// The function's name.
    public var name: String
    /// The parameter names, in order.
    public var parameters: [String]
    /// The statements of the body.
    public var body: [SyntaxStatement]
    /// Where the function's name appears in the source.
    public var location: SourceLocation
}
