/// Small programs that between them use every construct of the language, each through
/// `main`; shared by the tests that compare compiled code with the interpreter.
enum ConstructSources {
    static let all = [
        "fn main() { return 7 / 2 + 7 % 2 * 10 + -7 / 2 * 100 + -7 % 2 * 1000; }",
        "fn main() { return (1 < 2) + (2 <= 2) * 2 + (3 > 4) * 4 + (4 >= 5) * 8 + (5 == 5) * 16 + (5 != 5) * 32 + (-1 < 1) * 64; }",
        "fn main() { return !0 + !7 * 2 + (3 && 4) * 4 + (0 || 5) * 8 + (0 && 1) + (0 || 0); }",
        "fn main() { let x = 0; let i = 0; while i < 10 { x = x + i; i = i + 1; } return x; }",
        "fn main() { let x = 2; if x > 3 { x = 1; } else if x > 1 { x = 7; } else { x = 2; } return x; }",
        "fn main() { return (5 / 0) + (5 % 0) * 10 + ((-9223372036854775807 - 1) / -1) + ((-9223372036854775807 - 1) % -1); }",
        "fn fib(n) { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }\nfn main() { return fib(12); }",
        "fn mix(a, b, c, d, e, f) { return a - 2 * b + 3 * c - 4 * d + 5 * e - 6 * f; }\nfn main() { return 1 + mix(1, 2, 3, 4, 5, 6) * (2 + mix(6, 5, 4, 3, 2, 1)); }",
        "fn loop() { return loop(); }\nfn main() { return (0 && loop()) + (1 || loop()) * 2; }",
        "fn main() { 1 + 2; }",
    ]
}
