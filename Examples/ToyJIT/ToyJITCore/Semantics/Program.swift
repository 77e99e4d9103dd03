/// A resolved expression: variables are frame slots and callees are function indices.
public indirect enum Expression: Sendable, Equatable {
    case constant(Int64)
    case local(Int)
    case call(Int, [Expression])
    case unary(UnaryOperator, Expression)
    case binary(BinaryOperator, Expression, Expression)
}

/// A resolved statement.
public indirect enum Statement: Sendable, Equatable {
    case store(Int, Expression)
    case `if`(Expression, [Statement], [Statement])
    case `while`(Expression, [Statement])
    case `return`(Expression)
    case evaluate(Expression)
}

/// A resolved function. Parameters occupy slots `0 ..< parameterCount`; `let` bindings
/// take the following slots. Falling off the end returns 0.
public struct Function: Sendable, Equatable {
    /// The function's name.
    public var name: String
    /// Number of parameters; they occupy slots `0 ..< parameterCount`.
    public var parameterCount: Int
    /// Slots the frame needs: the parameters and every `let` of the body (a slot is
    /// never reused, even after its block ends).
    public var slotCount: Int
    /// The resolved statements of the body.
    public var body: [Statement]
    /// Where the function's name appears in the source.
    public var location: SourceLocation
}

/// Limits the compilers rely on; programs beyond them are rejected with a `SourceError`.
public enum Limits {
    /// Parameters per function (all passed in registers on both targets).
    public static let maximumParameters = 6
    /// Variable slots (parameters + `let`s) per function.
    public static let maximumSlots = 500
    /// Functions per program (entries of the function table).
    public static let maximumFunctions = 4096
}

/// A checked, resolved toy program. Every name is defined, every call has the right
/// number of arguments, and a `main` without parameters exists.
/// Thread-safety: a value.
public struct Program: Sendable {
    /// The functions, in source order; calls refer to them by index.
    public private(set) var functions: [Function]
    /// Index of `main`.
    public let mainIndex: Int

    /// Parses and resolves `source`. Throws a `SourceError` with line:column on bad input.
    /// Cost: linear in the source.
    public init(source: String) throws(SourceError) {
        var parser = try Parser(source)
        let syntax = try parser.parseProgram()
        guard syntax.count <= Limits.maximumFunctions else {
            throw SourceError(
                "too many functions (at most \(Limits.maximumFunctions))", at: syntax[Limits.maximumFunctions].location)
        }
        var signatures: [String: (index: Int, parameterCount: Int)] = [:]
        for (index, function) in syntax.enumerated() {
            if signatures[function.name] != nil {
                throw SourceError("function '\(function.name)' is already defined", at: function.location)
            }
            signatures[function.name] = (index, function.parameters.count)
        }
        functions = []
        for function in syntax {
            var resolver = Resolver(signatures: signatures)
            functions.append(try resolver.resolve(function))
        }
        guard let main = signatures["main"] else {
            throw SourceError("no function 'main'", at: SourceLocation(line: 1, column: 1))
        }
        guard main.parameterCount == 0 else {
            throw SourceError("'main' must take no parameters", at: syntax[main.index].location)
        }
        mainIndex = main.index
    }

    /// Index of the function called `name`, if any.
    public func index(of name: String) -> Int? {
        functions.firstIndex { $0.name == name }
    }

    /// Parses one function definition that replaces an existing function of the same name
    /// and parameter count; its body may call any function of the program (itself included).
    /// Returns the index it replaces and the resolved function without changing `self`.
    public func resolveReplacement(source: String) throws(SourceError) -> (index: Int, function: Function) {
        var parser = try Parser(source)
        let syntax = try parser.parseSingleFunction()
        guard let index = index(of: syntax.name) else {
            throw SourceError("no function '\(syntax.name)' to redefine", at: syntax.location)
        }
        guard functions[index].parameterCount == syntax.parameters.count else {
            throw SourceError(
                "'\(syntax.name)' must keep its \(functions[index].parameterCount) parameter(s)", at: syntax.location)
        }
        var signatures: [String: (index: Int, parameterCount: Int)] = [:]
        for (i, function) in functions.enumerated() { signatures[function.name] = (i, function.parameterCount) }
        var resolver = Resolver(signatures: signatures)
        return (index, try resolver.resolve(syntax))
    }

    /// Replaces function `index` with `function` (same name and parameter count).
    public mutating func replace(_ index: Int, with function: Function) {
        precondition(
            functions[index].name == function.name && functions[index].parameterCount == function.parameterCount,
            "replacement of '\(functions[index].name)' must keep its name and parameter count")
        functions[index] = function
    }
}
