use super::*;

/// A test in `package`, target `binary` of `kind`, named `name`.
fn t<'a>(
    package: &'a str,
    binary: &'a str,
    binary_id: &'a str,
    kind: &'a str,
    name: &'a str,
) -> TestInfo<'a> {
    TestInfo {
        package,
        binary,
        binary_id,
        kind,
        name,
        group: GLOBAL_GROUP,
    }
}

/// A unit test in the lib of `my-crate`.
fn lib(name: &str) -> TestInfo<'_> {
    t("my-crate", "my_crate", "my-crate", "lib", name)
}

#[track_caller]
fn fs(expr: &str) -> Filterset {
    match Filterset::parse(expr) {
        Ok(f) => f,
        Err(e) => panic!("{expr:?} should parse:\n{}", e.render(expr)),
    }
}

#[track_caller]
fn err(expr: &str) -> FiltersetError {
    match Filterset::parse(expr) {
        Ok(f) => panic!("{expr:?} should not parse, got {f:?}"),
        Err(e) => e,
    }
}

/// Asserts which of `yes` match and which of `no` don't.
#[track_caller]
fn check(expr: &str, yes: &[TestInfo<'_>], no: &[TestInfo<'_>]) {
    let f = fs(expr);
    for t in yes {
        assert!(f.matches(t), "{expr:?} should match {t:?}");
    }
    for t in no {
        assert!(!f.matches(t), "{expr:?} should not match {t:?}");
    }
}

/// Asserts the error message and span.
#[track_caller]
fn check_err(expr: &str, message: &str, span: Range<usize>) {
    let e = err(expr);
    assert_eq!(
        (e.message.as_str(), e.span.clone()),
        (message, span),
        "for {expr:?}:\n{}",
        e.render(expr)
    );
}

// --- predicates ----------------------------------------------------------

#[test]
fn all_and_none() {
    check("all()", &[lib("a"), lib("")], &[]);
    check("none()", &[], &[lib("a"), lib("")]);
    check(" all ( ) ", &[lib("a")], &[]);
}

#[test]
fn test_predicate_defaults_to_contains() {
    check(
        "test(parse)",
        &[lib("parse"), lib("tests::parse_empty"), lib("reparse")],
        &[lib("pars"), lib("PARSE"), lib("")],
    );
}

#[test]
fn package_predicate_defaults_to_glob() {
    let mine = t("my-crate", "my_crate", "my-crate", "lib", "a");
    let other = t("my-crate-extra", "x", "my-crate-extra", "lib", "a");
    let prefixed = t("the-my-crate", "x", "the-my-crate", "lib", "a");
    // Without metacharacters, the glob is an exact match.
    check("package(my-crate)", &[mine], &[other, prefixed]);
    check("package(my-*)", &[mine, other], &[prefixed]);
    check("package(*my-crate*)", &[mine, other, prefixed], &[]);
    check("package(my-crat?)", &[mine], &[other]);
    check("package(my-crate{\\,-extra})", &[mine, other], &[prefixed]);
}

#[test]
fn binary_predicate_defaults_to_glob() {
    let unit = t("my-crate", "my_crate", "my-crate", "lib", "a");
    let it = t(
        "my-crate",
        "integration",
        "my-crate::integration",
        "test",
        "a",
    );
    check("binary(my_crate)", &[unit], &[it]);
    check("binary(integ*)", &[it], &[unit]);
    check("binary(integ)", &[], &[it]);
}

#[test]
fn binary_id_predicate_defaults_to_glob() {
    let tool = t("my-crate", "tool", "my-crate::bin/tool", "bin", "a");
    let it = t("my-crate", "it", "my-crate::it", "test", "a");
    let unit = t("my-crate", "my_crate", "my-crate", "lib", "a");
    check("binary_id(my-crate::bin/tool)", &[tool], &[it, unit]);
    // `*` crosses `::` and `/`: globs here have no path semantics.
    check("binary_id(my-crate::*)", &[tool, it], &[unit]);
    check("binary_id(*/tool)", &[tool], &[it, unit]);
    check("binary_id(my-crate)", &[unit], &[tool, it]);
}

#[test]
fn kind_predicate_defaults_to_equal() {
    let kinds = BINARY_KINDS.map(|k| t("p", "b", "p::b", k, "x"));
    for (i, kind) in BINARY_KINDS.iter().enumerate() {
        let expr = format!("kind({kind})");
        let f = fs(&expr);
        for (j, t) in kinds.iter().enumerate() {
            assert_eq!(f.matches(t), i == j, "{expr} on {t:?}");
        }
    }
    // Other matchers are not restricted to known kinds.
    let [lib, bin, test, bench, example, proc_macro] = kinds;
    check("kind(~b)", &[lib, bin, bench], &[test, example, proc_macro]);
    check("kind(#b*)", &[bin, bench], &[lib, test]);
    check("kind(/^(lib|proc-macro)$/)", &[lib, proc_macro], &[bin]);
    check("kind(=lib)", &[lib], &[proc_macro]);
}

// --- matchers -------------------------------------------------------------

#[test]
fn equal_matcher() {
    check(
        "test(=my_test)",
        &[lib("my_test")],
        &[lib("my_test2"), lib("a::my_test")],
    );
    check("package(=my-crate)", &[lib("x")], &[]);
    check("test(==x)", &[lib("=x")], &[lib("x")]);
    check("test(=~x)", &[lib("~x")], &[lib("x")]);
    check("test(=/x/)", &[lib("/x/")], &[lib("x")]);
    check("test(=#x)", &[lib("#x")], &[lib("x")]);
}

#[test]
fn contains_matcher() {
    check(
        "test(~slow)",
        &[lib("slow"), lib("a::slow_b")],
        &[lib("slo")],
    );
    let p = t("serde_json", "b", "serde_json", "lib", "x");
    check("package(~serde)", &[p], &[lib("x")]);
    check("test(~~x)", &[lib("a~x")], &[lib("x")]);
    check("test(~=x)", &[lib("=x")], &[lib("x")]);
    check("test(~#x)", &[lib("#x")], &[lib("x")]);
}

#[test]
fn regex_matcher() {
    // Unanchored: matches anywhere.
    check("test(/parse_/)", &[lib("tests::parse_x")], &[lib("parse")]);
    check(
        "test(/^parse_/)",
        &[lib("parse_x")],
        &[lib("tests::parse_x")],
    );
    check("test(/^a$/)", &[lib("a")], &[lib("ab")]);
    check(r"test(/\d+/)", &[lib("t1")], &[lib("t")]);
    // `\/` is an escaped slash; `)` needs no escape inside a regex.
    check(r"test(/a\/b/)", &[lib("x::a/b")], &[lib("ab")]);
    check("test(/(a|b)c/)", &[lib("ac"), lib("bc")], &[lib("cc")]);
    check("test(/x/ )", &[lib("x")], &[]);
    check("test( /x/)", &[lib("x")], &[]);
    // The empty regex matches everything, as in nextest.
    check("test(//)", &[lib(""), lib("a")], &[]);
    check("package(/^my-/)", &[lib("x")], &[]);
}

#[test]
fn glob_matcher() {
    check("test(#*parse*)", &[lib("a::parse_b")], &[lib("pars")]);
    check("test(#parse)", &[lib("parse")], &[lib("a::parse")]);
    check("test(#a?c)", &[lib("abc")], &[lib("ac")]);
    check("test(#[ab]c)", &[lib("ac"), lib("bc")], &[lib("cc")]);
    check("test(#[!ab]c)", &[lib("cc")], &[lib("ac")]);
    // Metacharacters are escaped with brackets, not backslashes.
    check("test(#a[*]b)", &[lib("a*b")], &[lib("axb")]);
    check("test(#a[?]b)", &[lib("a?b")], &[lib("axb")]);
    check(
        "test(#x{\\,.exe})",
        &[lib("x"), lib("x.exe")],
        &[lib("x.e")],
    );
    check("test(#~x)", &[lib("~x")], &[]);
    check("test(##x)", &[lib("#x")], &[]);
    check("test(#/x/)", &[lib("/x/")], &[]);
}

#[test]
fn escapes_in_text_matchers() {
    check(r"test(a\,b)", &[lib("a,b")], &[lib("a")]);
    check(r"test(f(x\))", &[lib("f(x)")], &[lib("f(x")]);
    check(r"test(=a\/b)", &[lib("a/b")], &[]);
    check(r"test(=a\\b)", &[lib(r"a\b")], &[]);
    check(r"test(=a\nb)", &[lib("a\nb")], &[]);
    check(r"test(=a\tb\r)", &[lib("a\tb\r")], &[]);
    check(r"test(=\u{55}\u{1F600})", &[lib("U\u{1F600}")], &[]);
    check(r"test(=\b\f)", &[lib("\u{8}\u{c}")], &[]);
    check(r"package(#a\)b)", &[t("a)b", "b", "a)b", "lib", "x")], &[]);
    // Unescaped `/`, `(`, `&` and spaces are plain text in a matcher.
    check("test(a/b)", &[lib("a/b")], &[]);
    check("test(a & b)", &[lib("a & b")], &[lib("a")]);
}

#[test]
fn whitespace_before_the_matcher_is_skipped_and_after_it_is_kept() {
    // nextest keeps the trailing space: `test( foo )` looks for "foo ".
    check(
        "test( foo )",
        &[lib("foo bar")],
        &[lib("foo_bar"), lib("foo")],
    );
    check("test(\n  =foo)", &[lib("foo")], &[]);
    check("test(= foo)", &[lib(" foo")], &[lib("foo")]);
}

#[test]
fn unicode_names() {
    check("test(ünï)", &[lib("tests::ünïcode")], &[lib("unicode")]);
    check("test(#ü*)", &[lib("über")], &[lib("uber")]);
    check("test(/^.ber$/)", &[lib("über")], &[]);
}

// --- operators --------------------------------------------------------------

/// Tests whose names contain a subset of `alpha`, `beta`, `gamma`, with the
/// truth values of `test(alpha)`, `test(beta)`, `test(gamma)`.
fn truth_table() -> Vec<(String, [bool; 3])> {
    (0..8)
        .map(|bits| {
            let on = [bits & 1 != 0, bits & 2 != 0, bits & 4 != 0];
            let name = ["alpha", "beta", "gamma"]
                .iter()
                .zip(on)
                .filter(|(_, on)| *on)
                .map(|(w, _)| *w)
                .collect::<Vec<_>>()
                .join("::");
            (format!("t::{name}"), on)
        })
        .collect()
}

#[track_caller]
fn check_logic(expr: &str, expected: impl Fn(bool, bool, bool) -> bool) {
    let f = fs(expr);
    for (name, [a, b, c]) in truth_table() {
        assert_eq!(
            f.matches(&lib(&name)),
            expected(a, b, c),
            "{expr:?} on {name:?}"
        );
    }
}

#[test]
fn precedence() {
    check_logic("test(alpha) | test(beta) & test(gamma)", |a, b, c| {
        a || (b && c)
    });
    check_logic("test(alpha) & test(beta) | test(gamma)", |a, b, c| {
        (a && b) || c
    });
    check_logic("not test(alpha) & test(beta)", |a, b, _| !a && b);
    check_logic("! test(alpha) & test(beta)", |a, b, _| !a && b);
    check_logic("test(alpha) - test(beta) | test(gamma)", |a, b, c| {
        (a && !b) || c
    });
    check_logic("test(alpha) | test(beta) - test(gamma)", |a, b, c| {
        a || (b && !c)
    });
    check_logic("test(alpha) - test(beta) & test(gamma)", |a, b, c| {
        (a && !b) && c
    });
    check_logic("test(alpha) - test(beta) - test(gamma)", |a, b, c| {
        a && !b && !c
    });
    check_logic("not not test(alpha)", |a, _, _| a);
    check_logic("!!!test(alpha)", |a, _, _| !a);
    check_logic("(test(alpha) | test(beta)) & test(gamma)", |a, b, c| {
        (a || b) && c
    });
    check_logic("test(alpha) - (test(beta) | test(gamma))", |a, b, c| {
        a && !(b || c)
    });
    check_logic("not (test(alpha) & test(beta))", |a, b, _| !(a && b));
    check_logic("((((test(alpha)))))", |a, _, _| a);
}

#[test]
fn reference_precedence_examples() {
    // The four examples under "Operator precedence" in nextest's reference.
    let same = [
        (
            "test(alpha) & test(beta) | test(gamma)",
            "(test(alpha) & test(beta)) | test(gamma)",
        ),
        (
            "test(alpha) | test(beta) & test(gamma)",
            "test(alpha) | (test(beta) & test(gamma))",
        ),
        (
            "test(alpha) & test(beta) - test(gamma)",
            "(test(alpha) & test(beta)) - test(gamma)",
        ),
        (
            "not test(alpha) | test(beta)",
            "(not test(alpha)) | test(beta)",
        ),
    ];
    for (left, right) in same {
        let (l, r) = (fs(left), fs(right));
        for (name, _) in truth_table() {
            assert_eq!(
                l.matches(&lib(&name)),
                r.matches(&lib(&name)),
                "{left} vs {right}"
            );
        }
    }
}

#[test]
fn synonyms() {
    let groups: &[&[&str]] = &[
        &[
            "test(alpha) & test(beta)",
            "test(alpha) and test(beta)",
            "test(alpha)&test(beta)",
            "test(alpha)and test(beta)",
        ],
        &[
            "test(alpha) | test(beta)",
            "test(alpha) or test(beta)",
            "test(alpha) + test(beta)",
            "test(alpha)|test(beta)",
            "test(alpha)+test(beta)",
        ],
        &[
            "not test(alpha)",
            "!test(alpha)",
            "! test(alpha)",
            "not(test(alpha))",
        ],
        &[
            "test(alpha) - test(beta)",
            "test(alpha) and not test(beta)",
            "test(alpha) & !test(beta)",
            "test(alpha)-test(beta)",
        ],
    ];
    for group in groups {
        let first = fs(group[0]);
        for expr in &group[1..] {
            let other = fs(expr);
            for (name, _) in truth_table() {
                assert_eq!(
                    first.matches(&lib(&name)),
                    other.matches(&lib(&name)),
                    "{:?} vs {expr:?} on {name}",
                    group[0]
                );
            }
        }
    }
}

#[test]
fn multiline_expressions() {
    check_logic(
        "test(alpha)\n  | test(beta)\r\n  & test(gamma)\n",
        |a, b, c| a || (b && c),
    );
    check_logic("\ttest(alpha)\t-\ttest(beta)", |a, b, _| a && !b);
}

#[test]
fn long_operator_chains_do_not_recurse() {
    let expr = vec!["test(=x)"; 100_000].join(" | ") + " | test(=hit)";
    let f = fs(&expr);
    assert!(f.matches(&lib("hit")));
    assert!(!f.matches(&lib("miss")));
    let expr = vec!["all()"; 100_000].join(" - ");
    assert!(!fs(&expr).matches(&lib("a")));
    assert_eq!(fs("all() - none()").source(), "all() - none()");
}

// --- nextest documentation examples ------------------------------------------

#[test]
fn documented_examples() {
    let serde_de = t(
        "serde",
        "serde",
        "serde",
        "lib",
        "de::tests::deserialize_map",
    );
    let serde_ser = t(
        "serde",
        "serde",
        "serde",
        "lib",
        "ser::tests::serialize_map",
    );
    let json_de = t(
        "serde_json",
        "serde_json",
        "serde_json",
        "lib",
        "deserialize",
    );
    check(
        "package(serde) and test(deserialize)",
        &[serde_de],
        &[serde_ser, json_de],
    );

    check(
        "not (test(/parse[0-9]*/) | test(run))",
        &[lib("tests::lex")],
        &[
            lib("tests::parse"),
            lib("tests::parse12"),
            lib("tests::run_all"),
        ],
    );

    let other = t("other", "other", "other", "lib", "x");
    check(
        "test(my_test) + package(my-crate)",
        &[
            lib("x"),
            t("other", "other", "other", "lib", "a::my_test_b"),
        ],
        &[other],
    );

    check(
        "package(my-crate) & test(/parse_/)",
        &[lib("tests::parse_ok")],
        &[
            lib("tests::parse"),
            t("other", "o", "other", "lib", "tests::parse_ok"),
        ],
    );
    check(
        "test(=my_test)",
        &[lib("my_test")],
        &[lib("tests::my_test")],
    );

    let bin = t("my-crate", "tool", "my-crate::bin/tool", "bin", "x");
    let it = t("my-crate", "it", "my-crate::it", "test", "x");
    check("kind(lib) | kind(bin)", &[lib("x"), bin], &[it]);
    check(
        "all() - test(slow)",
        &[lib("fast"), bin],
        &[lib("a::slow_b")],
    );
    check("binary_id(my-crate::bin/tool)", &[bin], &[lib("x"), it]);
    check("binary_id(my-crate::it)", &[it], &[bin]);
    check(
        "package(nextest*)",
        &[t("nextest-runner", "b", "b", "lib", "x")],
        &[lib("x")],
    );
    check("not test(/.*/)", &[], &[lib("x"), lib("")]);
}

#[test]
fn documented_examples_we_reject() {
    check_err(
        "test(a) | default()",
        "default() is not supported by cargo-isolate",
        10..19,
    );
    // Their arguments are still checked first.
    check_err("default(x)", "default() takes no argument", 8..9);
}

#[test]
fn group_is_for_the_command_line_and_names_a_defined_group() {
    // The configuration's filters decide the groups: group() there is refused.
    check_err(
        "test(a) & group(serial)",
        "group() is only for -E on the command line, as in nextest: the overrides are what put a test in a group",
        10..23,
    );
    check_err("group(", "expected a matcher after 'group('", 6..6);
    let ws = graph_workspace().with_groups(&["serial".to_string(), "db-1".to_string()]);
    let f = compiled_in(&ws, "group(serial) | group(=@global) & test(b)");
    let in_group = |group, name| TestInfo {
        group,
        ..t("base", "base", "base", "lib", name)
    };
    assert!(f.matches(&in_group("serial", "a")));
    assert!(!f.matches(&in_group("db-1", "b")));
    assert!(f.matches(&in_group(GLOBAL_GROUP, "b")));
    assert!(!f.matches(&in_group(GLOBAL_GROUP, "a")));
    // Glob by default, as package(): `db-*`.
    assert!(compiled_in(&ws, "group(db-*)").matches(&in_group("db-1", "a")));
    // The group comes with the test: a binary cannot be decided without it.
    assert_eq!(f.matches_binary(&in_group(GLOBAL_GROUP, "")), None);
    let e = ParsedFilterset::parse("group(sreial)")
        .unwrap()
        .compile(&ws)
        .unwrap_err();
    assert_eq!(
        e.message,
        "group(): no test group matches 'sreial' (groups: serial, db-1; a test in none is in @global)"
    );
    assert_eq!(e.span, 6..12);
    let e = ParsedFilterset::parse("group(x)")
        .unwrap()
        .compile(&graph_workspace())
        .unwrap_err();
    assert!(
        e.message
            .contains("the configuration defines no [test-groups]"),
        "{}",
        e.message
    );
}

#[test]
fn the_configuration_refuses_the_graph_predicates() {
    // `Filterset::parse` is the configuration's, read before the build.
    check_err(
        "deps(my-crate)",
        "deps() needs the dependency graph, which only -E expressions get (the configuration is read before the build)",
        0..14,
    );
    check_err(
        "test(x) | rdeps( nextest* )",
        "rdeps() needs the dependency graph, which only -E expressions get (the configuration is read before the build)",
        10..27,
    );
    // Arguments first, as for any predicate.
    check_err("deps(", "expected a matcher after 'deps('", 5..5);
    // Names are matched as they are, unchecked.
    check(
        "package(nope)",
        &[t("nope", "b", "b", "lib", "x")],
        &[lib("x")],
    );
    check("binary(nope) | binary_id(nope::it)", &[], &[lib("x")]);
}

// --- errors ---------------------------------------------------------------

#[test]
fn error_messages_and_spans() {
    check_err("", "expected an expression", 0..0);
    check_err("   ", "expected an expression", 3..3);
    check_err("test(", "expected a matcher after 'test('", 5..5);
    check_err("test()", "expected a matcher after 'test('", 5..5);
    check_err("test(=)", "expected a string after '=' in 'test('", 6..6);
    check_err("test", "expected '(' after 'test'", 4..4);
    check_err("test(a", "expected ')' to close 'test('", 6..6);
    check_err(
        "test(/abc)",
        "unterminated regex: expected a closing '/'",
        5..6,
    );
    check_err("test(/[/)", "invalid regex: unclosed character class", 6..7);
    check_err(
        "test(/a/b)",
        "expected ')' to close 'test(', found 'b'",
        8..9,
    );
    check_err(
        "test(a, b)",
        "unexpected ','; test() takes a single matcher (write '\\,' to match a comma)",
        6..7,
    );
    check_err(
        "(test(a)",
        "expected ')' to close the '(' at column 1",
        8..8,
    );
    check_err(
        "(test(a) test(b))",
        "expected ')' to close the '(' at column 1, found 'test'",
        9..13,
    );
    check_err(
        "test(a) test(b)",
        "expected an operator or the end of the expression, found 'test'",
        8..12,
    );
    check_err("test(a))", "unexpected ')' without a matching '('", 7..8);
    check_err(")", "expected an expression, found ')'", 0..1);
    check_err("()", "expected an expression after '(', found ')'", 1..2);
    check_err("test(a) & ", "expected an expression after '&'", 10..10);
    check_err("not", "expected an expression after 'not'", 3..3);
    check_err("test(a) or", "expected an expression after 'or'", 10..10);
    check_err(
        "test(a) & | test(b)",
        "expected an expression after '&', found '|'",
        10..11,
    );
    check_err(
        "and test(a)",
        "expected an expression, found the operator 'and'",
        0..3,
    );
    check_err(
        "test(a) && test(b)",
        "'&&' is not a filterset operator; use '&' or 'and'",
        8..10,
    );
    check_err(
        "test(a) || test(b)",
        "'||' is not a filterset operator; use '|', '+' or 'or'",
        8..10,
    );
    check_err(
        "test(a) AND test(b)",
        "'AND' is not a filterset operator; use 'and' or '&'",
        8..11,
    );
    check_err(
        "test(a) OR test(b)",
        "'OR' is not a filterset operator; use 'or', '|' or '+'",
        8..10,
    );
    check_err(
        "foo(x)",
        "unknown predicate 'foo'; expected all(), none(), test(), package(), deps(), rdeps(), binary(), binary_id(), kind(), group() or platform()",
        0..3,
    );
    check_err(
        "a & b",
        "unknown predicate 'a'; expected all(), none(), test(), package(), deps(), rdeps(), binary(), binary_id(), kind(), group() or platform()",
        0..1,
    );
    check_err("all(x)", "all() takes no argument", 4..5);
    check_err("none( x )", "none() takes no argument", 6..8);
    check_err(
        r"test(\q)",
        r"invalid escape sequence '\q'; valid escapes are \n \r \t \b \f \\ \/ \) \, and \u{...}",
        5..7,
    );
    check_err(
        r"test(\u{d800})",
        r"invalid unicode escape '\u{d800}': not a unicode scalar value",
        5..13,
    );
    check_err(
        r"test(\u12)",
        r"invalid unicode escape; expected '\u{' followed by 1 to 6 hex digits and '}'",
        5..7,
    );
    check_err(r"test(a\", r"expected an escape sequence after '\'", 6..7);
    check_err(
        "kind(libs)",
        "unknown binary kind 'libs'; expected one of lib, bin, test, bench, example, proc-macro",
        5..9,
    );
    check_err(
        "kind(=test )",
        "unknown binary kind 'test '; expected one of lib, bin, test, bench, example, proc-macro",
        5..11,
    );
    check_err(
        "package(#a[)",
        "invalid glob: unclosed character class; missing ']'",
        9..11,
    );
    check_err(
        "package(a}b)",
        "invalid glob: unopened alternate group; missing '{' (maybe escape '}' with '[}]'?)",
        8..11,
    );
    check_err(
        "test(/a{2,1}/)",
        "invalid regex: invalid repetition count range, the start must be <= the end",
        7..12,
    );
    check_err(
        r"test(/a\/[/)",
        "invalid regex: unclosed character class",
        9..10,
    );
    // As in nextest, a comma ends the matcher, so glob alternates need `\,`.
    check_err(
        "package({a,b})",
        "unexpected ','; package() takes a single matcher (write '\\,' to match a comma)",
        10..11,
    );
}

#[test]
fn display_and_render() {
    let e = err("test()");
    assert_eq!(
        e.to_string(),
        "expected a matcher after 'test(' at column 6"
    );

    assert_eq!(
        err("test(/[/)").render("test(/[/)"),
        "test(/[/)\n      ^\ninvalid regex: unclosed character class at column 7"
    );
    assert_eq!(
        err("test(a) && none()").render("test(a) && none()"),
        "test(a) && none()\n        ^^\n'&&' is not a filterset operator; use '&' or 'and' at column 9"
    );
    // Empty spans get one caret; line breaks and tabs keep the caret aligned.
    let expr = "test(a)\n&\ttest(";
    assert_eq!(
        err(expr).render(expr),
        "test(a) & test(\n               ^\nexpected a matcher after 'test(' at column 16"
    );
    // Wide characters are measured by display width.
    let expr = "test(日本) & x";
    let rendered = err(expr).render(expr);
    assert_eq!(rendered.lines().nth(1), Some("             ^"));
    // Spans from elsewhere never make render panic.
    let odd = FiltersetError {
        message: "m".into(),
        span: 3..1000,
    };
    assert_eq!(odd.render("ü"), "ü\n ^\nm at column 4");
    let err: Box<dyn std::error::Error> = Box::new(e);
    assert!(err.to_string().starts_with("expected a matcher"));
}

#[test]
fn matches_binary_is_three_valued() {
    let bin = t("my-crate", "tool", "my-crate::bin/tool", "bin", "");
    let unit = lib("");
    assert_eq!(fs("kind(bin)").matches_binary(&bin), Some(true));
    assert_eq!(fs("kind(bin)").matches_binary(&unit), Some(false));
    assert_eq!(fs("test(x)").matches_binary(&bin), None);
    assert_eq!(fs("kind(bin) & test(x)").matches_binary(&unit), Some(false));
    assert_eq!(fs("kind(bin) & test(x)").matches_binary(&bin), None);
    assert_eq!(fs("kind(bin) | test(x)").matches_binary(&bin), Some(true));
    assert_eq!(
        fs("not (kind(lib) | test(x))").matches_binary(&unit),
        Some(false)
    );
    assert_eq!(fs("all() - test(x)").matches_binary(&unit), None);
    assert_eq!(
        fs("none() | package(my-crate)").matches_binary(&unit),
        Some(true)
    );
}

// --- robustness ----------------------------------------------------------

/// Parsing returns, and any error has a sane span and renders.
#[track_caller]
fn survives(expr: &str) {
    let compiled = ParsedFilterset::parse(expr).and_then(|p| p.compile(&graph_workspace()));
    for result in [Filterset::parse(expr), compiled] {
        let Err(e) = result else { continue };
        assert!(
            e.span.start <= e.span.end && e.span.end <= expr.len(),
            "bad span {:?} for {expr:?}: {}",
            e.span,
            e.message
        );
        assert!(
            expr.is_char_boundary(e.span.start) && expr.is_char_boundary(e.span.end),
            "span {:?} splits a character in {expr:?}",
            e.span
        );
        assert!(!e.message.is_empty());
        assert!(!e.message.starts_with(char::is_uppercase), "{}", e.message);
        let _ = e.render(expr);
        let _ = e.to_string();
    }
}

#[test]
fn never_panics_on_weird_input() {
    let weird = [
        "",
        "(",
        ")",
        "))",
        "((",
        "()",
        "test(",
        "test(/",
        "test(/[/)",
        "test(/\\",
        "test(\\",
        "test(\\u{",
        "test(\\u{110000})",
        "test(\\u{ffffffff})",
        "test(#[",
        "test(#{",
        "test(#**)",
        "not",
        "not not",
        "!",
        "a & ",
        "& a",
        "- -",
        "+",
        "||",
        "&&",
        "test(a)-",
        "\0",
        "test(\0)",
        "test(=\0)",
        "all(\0)",
        "\u{feff}all()",
        "ünïcödé(x)",
        "test(日本語)",
        "test(/日本語/)",
        "test(/\u{10FFFF}/)",
        "tést(x)",
        "\u{1b}[31mtest(x)",
        "test(a)\u{0}",
        "kind(\u{0})",
        "binary_id(::)",
        "test(/(?<name/)",
        "test(/a{99999999}/)",
        "test(/a{1000}{1000}{1000}/)",
        "test(/\\p{NoSuchClass}/)",
        "platform()",
        "platform(x",
        "deps(#[)",
        "default(x)",
        "test(a)\n\n\n",
        "\r\n",
    ];
    for expr in weird {
        survives(expr);
    }
}

#[test]
fn never_panics_on_truncations() {
    let full = [
        r"package(my-crate) & (test(/^parse_\d+$/) | test(=a\,b\u{55})) - kind(#b*) or not binary_id(~x::bin/y)",
        r"!(all() + none()) and binary(#a[*]{x\,}) | test(/a\/b[)]/)",
        "test(ünï) & package(日本) | test(/é+/)",
    ];
    for expr in full {
        assert!(Filterset::parse(expr).is_ok(), "{expr}");
        for (i, _) in expr.char_indices() {
            survives(&expr[..i]);
            survives(&expr[i..]);
        }
    }
}

#[test]
fn never_panics_on_random_token_soup() {
    const TOKENS: &[&str] = &[
        "test(",
        "package(",
        "kind(",
        "binary(",
        "binary_id(",
        "all()",
        "none()",
        "deps(",
        "rdeps(",
        "platform(",
        "host",
        "not ",
        "!",
        "(",
        ")",
        "&",
        "|",
        "+",
        "-",
        " and ",
        " or ",
        "=",
        "~",
        "#",
        "/",
        "\\",
        ",",
        "*",
        "?",
        "[",
        "]",
        "{",
        "}",
        "a",
        "lib",
        " ",
        "\n",
        "ü",
        "\0",
        "\\u{41}",
    ];
    // A fixed-seed xorshift, so failures are reproducible.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let expr: String = (0..len)
            .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
            .collect();
        survives(&expr);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for (open, close) in [("(", ")"), ("not ", ""), ("!", ""), ("not (", ")")] {
        let deep = format!("{}all(){}", open.repeat(10_000), close.repeat(10_000));
        let e = err(&deep);
        assert!(
            e.message.contains("more than 64 levels deep"),
            "{}",
            e.message
        );
        survives(&deep);
        // Truncated deep input too.
        survives(&open.repeat(10_000));
    }
    // Right at the limit still parses, evaluates and drops, with room to
    // spare on a 1 MiB stack even in a debug build.
    let at_limit = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let half = parser::MAX_DEPTH / 2;
            let parens = format!(
                "{}all(){}",
                "(".repeat(parser::MAX_DEPTH),
                ")".repeat(parser::MAX_DEPTH)
            );
            let mixed = format!("{}test(x){}", "not (".repeat(half), ")".repeat(half));
            let bangs = format!("{}all()", "!".repeat(parser::MAX_DEPTH));
            [parens, mixed, bangs].map(|expr| {
                let f = Filterset::parse(&expr).map_err(|e| e.render(&expr))?;
                Ok::<_, String>((f.matches(&lib("x")), f.matches_binary(&lib(""))))
            })
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
    assert_eq!(
        at_limit,
        [
            Ok((true, Some(true))),
            Ok((true, None)),
            Ok((true, Some(true)))
        ]
    );
    let too_deep = format!("{}all()", "!".repeat(parser::MAX_DEPTH + 1));
    assert_eq!(
        err(&too_deep).span,
        parser::MAX_DEPTH..parser::MAX_DEPTH + 1
    );
}

// --- the workspace: package(), deps(), rdeps(), binary(), platform() -----

/// fixtures/graph: top -> mid -> base, tester -(dev)-> base, lone, and
/// macros (a proc-macro crate), by index 0..6.
fn graph_workspace() -> Workspace {
    graph_workspace_with(Some(&[(1, 0), (2, 1), (4, 0)]))
}

fn graph_workspace_with(edges: Option<&[(usize, usize)]>) -> Workspace {
    Workspace::from_parts(
        &[
            ("base", &[("base", "base")]),
            ("mid", &[("mid", "mid")]),
            ("top", &[("top", "top"), ("cli", "top::bin/cli")]),
            ("lone", &[("lone", "lone"), ("it", "lone::it")]),
            ("tester", &[("tester", "tester")]),
            ("macros", &[("macros", "macros")]),
        ],
        edges,
    )
}

/// The unit tests of the graph fixture's packages, one per package.
fn unit(package: &str) -> TestInfo<'_> {
    let kind = if package == "macros" {
        "proc-macro"
    } else {
        "lib"
    };
    t(package, package, package, kind, "tests::works")
}

const GRAPH_PACKAGES: [&str; 6] = ["base", "mid", "top", "lone", "tester", "macros"];

#[track_caller]
fn compiled_in(ws: &Workspace, expr: &str) -> Filterset {
    let parsed = ParsedFilterset::parse(expr)
        .unwrap_or_else(|e| panic!("{expr:?} should parse:\n{}", e.render(expr)));
    parsed
        .compile(ws)
        .unwrap_or_else(|e| panic!("{expr:?} should compile:\n{}", e.render(expr)))
}

/// The graph fixture's packages whose unit test `expr` selects.
#[track_caller]
fn selected(expr: &str) -> Vec<&'static str> {
    let f = compiled_in(&graph_workspace(), expr);
    let picked: Vec<&str> = GRAPH_PACKAGES
        .into_iter()
        .filter(|p| f.matches(&unit(p)))
        .collect();
    // The whole-binary answer agrees: these predicates never need names.
    for p in GRAPH_PACKAGES {
        assert_eq!(
            f.matches_binary(&unit(p)),
            Some(picked.contains(&p)),
            "{expr:?} on {p}"
        );
    }
    picked
}

#[track_caller]
fn compile_err(ws: &Workspace, expr: &str) -> FiltersetError {
    let parsed = ParsedFilterset::parse(expr)
        .unwrap_or_else(|e| panic!("{expr:?} should parse:\n{}", e.render(expr)));
    match parsed.compile(ws) {
        Ok(f) => panic!("{expr:?} should not compile, got {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn deps_are_what_a_package_depends_on_transitively_and_itself() {
    assert_eq!(selected("deps(top)"), ["base", "mid", "top"]);
    assert_eq!(selected("deps(mid)"), ["base", "mid"]);
    assert_eq!(selected("deps(base)"), ["base"]);
    assert_eq!(selected("deps(lone)"), ["lone"]);
    // A dev-dependency counts, as in nextest's graph.
    assert_eq!(selected("deps(tester)"), ["base", "tester"]);
}

#[test]
fn rdeps_are_the_packages_depending_on_it_transitively_and_itself() {
    assert_eq!(selected("rdeps(base)"), ["base", "mid", "top", "tester"]);
    assert_eq!(selected("rdeps(mid)"), ["mid", "top"]);
    assert_eq!(selected("rdeps(top)"), ["top"]);
    assert_eq!(selected("rdeps(macros)"), ["macros"]);
}

#[test]
fn graph_predicates_take_every_matcher_and_combine() {
    // Glob by default; the union of what each matched package gives.
    assert_eq!(selected("rdeps(m*)"), ["mid", "top", "macros"]);
    assert_eq!(
        selected("deps(#{top\\,tester})"),
        ["base", "mid", "top", "tester"]
    );
    assert_eq!(selected("deps(/^t/)"), ["base", "mid", "top", "tester"]);
    assert_eq!(selected("deps(~ste)"), ["base", "tester"]);
    assert_eq!(
        selected("rdeps(=base) - package(base)"),
        ["mid", "top", "tester"]
    );
    assert_eq!(selected("deps(top) & rdeps(mid)"), ["mid", "top"]);
    assert_eq!(selected("not rdeps(base)"), ["lone", "macros"]);
    assert_eq!(selected("package(base) | package(lone)"), ["base", "lone"]);
    // And with the test name: undecided per binary, exact per test.
    let f = compiled_in(&graph_workspace(), "rdeps(base) & test(works)");
    assert_eq!(f.matches_binary(&unit("mid")), None);
    assert_eq!(f.matches_binary(&unit("lone")), Some(false));
    assert!(f.matches(&unit("mid")));
    assert!(!f.matches(&t("mid", "mid", "mid", "lib", "other")));
}

#[test]
fn platform_is_host_for_proc_macros_and_target_for_the_rest() {
    assert_eq!(selected("platform(host)"), ["macros"]);
    assert_eq!(
        selected("platform(target)"),
        ["base", "mid", "top", "lone", "tester"]
    );
    assert_eq!(selected("platform( host )"), ["macros"]);
    assert_eq!(
        selected("not platform(host) & deps(tester)"),
        ["base", "tester"]
    );
    // platform() needs no workspace: the configuration takes it too.
    check(
        "platform(host)",
        &[unit("macros")],
        &[unit("base"), lib("x")],
    );
    check_err(
        "platform(hots)",
        "invalid argument for platform(): expected 'host' or 'target', found 'hots'",
        9..13,
    );
    check_err(
        "platform( )",
        "expected 'host' or 'target' after 'platform('",
        10..10,
    );
    check_err(
        "platform(Host)",
        "invalid argument for platform(): expected 'host' or 'target', found 'Host'",
        9..13,
    );
    check_err(
        "platform(host, target)",
        "unexpected ','; platform() takes a single matcher (write '\\,' to match a comma)",
        13..14,
    );
}

#[test]
fn a_workspace_predicate_that_matches_nothing_is_an_error_on_its_matcher() {
    let ws = graph_workspace();
    let members = "(members: base, mid, top, lone, tester, macros)";
    let cases: [(&str, String, std::ops::Range<usize>); 7] = [
        (
            "package(nope)",
            format!("package(): no workspace package matches 'nope' {members}"),
            8..12,
        ),
        (
            "test(x) & not package( #nope* )",
            format!("package(): no workspace package matches '#nope*' {members}"),
            23..29,
        ),
        (
            "deps(/^x/)",
            format!("deps(): no workspace package matches '/^x/' {members}"),
            5..9,
        ),
        (
            "rdeps(serde)",
            // Only workspace packages are matched, as in nextest.
            format!("rdeps(): no workspace package matches 'serde' {members}"),
            6..11,
        ),
        (
            "binary(nope)",
            "binary(): no workspace binary matches 'nope'".into(),
            7..11,
        ),
        (
            "binary_id(top::nope)",
            "binary_id(): no workspace binary id matches 'top::nope'".into(),
            10..19,
        ),
        (
            "package(base) | package(bas)",
            format!("package(): no workspace package matches 'bas' {members}"),
            24..27,
        ),
    ];
    for (expr, message, span) in cases {
        let e = compile_err(&ws, expr);
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            (message.as_str(), span),
            "{expr:?}"
        );
    }
    // The expression is shown, carets under the matcher.
    assert_eq!(
        compile_err(&ws, "package(nope)").render("package(nope)"),
        format!(
            "package(nope)\n        ^^^^\npackage(): no workspace package matches 'nope' {members} at column 9"
        )
    );
    // What is there compiles: targets by name and by binary id.
    assert_eq!(
        selected("binary(cli) | binary_id(lone::it)"),
        Vec::<&str>::new()
    );
    let f = compiled_in(&ws, "binary(cli) | binary_id(lone::it)");
    assert!(f.matches(&t("top", "cli", "top::bin/cli", "bin", "x")));
    assert!(f.matches(&t("lone", "it", "lone::it", "test", "x")));
}

#[test]
fn a_long_member_list_is_shortened() {
    let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let members: Vec<(&str, &[(&str, &str)])> =
        names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let ws = Workspace::from_parts(&members, Some(&[]));
    let e = compile_err(&ws, "package(x)");
    assert!(
        e.message
            .contains("(members: p0, p1, p2, p3, p4, p5, p6, p7 and 12 more)"),
        "{}",
        e.message
    );
    // A workspace without members says nothing of them.
    let e = compile_err(&Workspace::default(), "package(x)");
    assert_eq!(e.message, "package(): no workspace package matches 'x'");
}

#[test]
fn without_a_graph_deps_and_rdeps_say_why_and_the_rest_works() {
    let ws = graph_workspace_with(None);
    for (expr, span) in [("deps(top)", 0..9), ("all() - rdeps( base )", 8..21)] {
        let e = compile_err(&ws, expr);
        assert!(
            e.message
                .contains("needs the dependency graph, which cargo metadata did not give")
                && e.message.contains("make it again"),
            "{}",
            e.message
        );
        assert_eq!(e.span, span, "{expr:?}");
    }
    let f = compiled_in(&ws, "package(mid) | platform(host)");
    assert!(f.matches(&unit("mid")) && f.matches(&unit("macros")));
    assert!(!f.matches(&unit("base")));
}

#[test]
fn cycles_self_loops_and_dangling_edges_end() {
    // a -> b -> c -> a (dev-dependencies make cycles), d -> d, and edges
    // to nodes that do not exist.
    let ws = Workspace::from_parts(
        &[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])],
        Some(&[(0, 1), (1, 2), (2, 0), (3, 3), (3, 99), (99, 0)]),
    );
    let names = |expr: &str| {
        let f = compiled_in(&ws, expr);
        ["a", "b", "c", "d"]
            .into_iter()
            .filter(|p| f.matches(&t(p, p, p, "lib", "x")))
            .collect::<Vec<_>>()
    };
    assert_eq!(names("deps(a)"), ["a", "b", "c"]);
    assert_eq!(names("rdeps(b)"), ["a", "b", "c"]);
    assert_eq!(names("deps(d)"), ["d"]);
    assert_eq!(names("rdeps(d)"), ["d"]);
}

#[test]
fn a_deep_chain_is_walked_without_recursion() {
    // p0 -> p1 -> ... -> p99999: a recursive walk would overflow the
    // stack of this test thread long before the end.
    const N: usize = 100_000;
    let names: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    let members: Vec<(&str, &[(&str, &str)])> =
        names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let edges: Vec<(usize, usize)> = (1..N).map(|i| (i - 1, i)).collect();
    let ws = Workspace::from_parts(&members, Some(&edges));
    let deps = compiled_in(&ws, "deps(=p0)");
    let rdeps = compiled_in(&ws, "rdeps(=p99999)");
    let last = t("p99999", "p99999", "p99999", "lib", "x");
    let first = t("p0", "p0", "p0", "lib", "x");
    assert!(deps.matches(&last) && rdeps.matches(&first));
    assert!(!compiled_in(&ws, "deps(=p1)").matches(&first));
}

/// cargo metadata as cargo writes it (trimmed to the fields read), for a
/// workspace `a`, `b`, `c` where `a` reaches `b` only through `ext`, a
/// registry package, and `c` depends on an id no node has.
const METADATA: &str = r#"{
  "packages": [
    {"name": "a", "version": "0.1.0", "id": "path+file:///ws/a#0.1.0", "source": null,
     "dependencies": [], "manifest_path": "/ws/a/Cargo.toml", "features": {},
     "targets": [
       {"name": "a", "kind": ["lib"], "crate_types": ["lib"], "src_path": "/ws/a/src/lib.rs"},
       {"name": "build-script-build", "kind": ["custom-build"], "crate_types": ["bin"], "src_path": "/ws/a/build.rs"},
       {"name": "it", "kind": ["test"], "crate_types": ["bin"], "src_path": "/ws/a/tests/it.rs"},
       {"name": "tool", "kind": ["bin"], "crate_types": ["bin"], "src_path": "/ws/a/src/main.rs"}
     ]},
    {"name": "b", "version": "0.1.0", "id": "path+file:///ws/b#0.1.0", "source": null,
     "dependencies": [], "manifest_path": "/ws/b/Cargo.toml", "features": {},
     "targets": [{"name": "b", "kind": ["proc-macro"], "crate_types": ["proc-macro"], "src_path": "/ws/b/src/lib.rs"}]},
    {"name": "c", "version": "0.1.0", "id": "path+file:///ws/c#0.1.0", "source": null,
     "dependencies": [], "manifest_path": "/ws/c/Cargo.toml", "features": {},
     "targets": [{"name": "c", "kind": ["cdylib"], "crate_types": ["cdylib"], "src_path": "/ws/c/src/lib.rs"}]},
    {"name": "ext", "version": "1.0.0", "id": "registry+https://github.com/rust-lang/crates.io-index#ext@1.0.0",
     "source": "registry+https://github.com/rust-lang/crates.io-index",
     "dependencies": [], "manifest_path": "/reg/ext/Cargo.toml", "features": {},
     "targets": [{"name": "ext", "kind": ["lib"], "crate_types": ["lib"], "src_path": "/reg/ext/src/lib.rs"}]}
  ],
  "workspace_members": ["path+file:///ws/a#0.1.0", "path+file:///ws/b#0.1.0", "path+file:///ws/c#0.1.0", "path+file:///ws/gone#0.1.0"],
  "workspace_default_members": ["path+file:///ws/a#0.1.0"],
  "resolve": {"root": null, "nodes": [
    {"id": "path+file:///ws/a#0.1.0", "dependencies": ["registry+https://github.com/rust-lang/crates.io-index#ext@1.0.0"],
     "deps": [{"name": "ext", "pkg": "registry+https://github.com/rust-lang/crates.io-index#ext@1.0.0", "dep_kinds": [{"kind": null, "target": null}]}], "features": []},
    {"id": "registry+https://github.com/rust-lang/crates.io-index#ext@1.0.0", "dependencies": ["path+file:///ws/b#0.1.0"],
     "deps": [{"name": "b", "pkg": "path+file:///ws/b#0.1.0", "dep_kinds": [{"kind": null, "target": null}]}], "features": []},
    {"id": "path+file:///ws/b#0.1.0", "dependencies": [], "deps": [], "features": []},
    {"id": "path+file:///ws/c#0.1.0", "dependencies": ["path+file:///ws/nowhere#0.1.0"], "deps": [], "features": []}
  ]},
  "workspace_root": "/ws", "target_directory": "/ws/target", "build_directory": "/ws/target",
  "version": 1, "metadata": null
}"#;

#[test]
fn the_workspace_is_read_from_cargo_metadata() {
    let metadata: cargo_metadata::Metadata = serde_json::from_str(METADATA).unwrap();
    let ws = Workspace::from_metadata(&metadata);
    // Members only, and only those with a package: `gone` has none.
    assert_eq!(ws.member_names().collect::<Vec<_>>(), ["a", "b", "c"]);
    // Build scripts have no tests; the binary ids are nextest's.
    assert_eq!(
        ws.targets().collect::<Vec<_>>(),
        [
            ("a", "a"),
            ("it", "a::it"),
            ("tool", "a::bin/tool"),
            ("b", "b"),
            ("c", "c")
        ]
    );
    let member = |p: &'static str| t(p, p, p, "lib", "x");
    let f = compiled_in(&ws, "deps(a)");
    // Through a package outside the workspace.
    assert!(f.matches(&member("a")) && f.matches(&member("b")));
    assert!(!f.matches(&member("c")) && !f.matches(&member("ext")));
    let f = compiled_in(&ws, "rdeps(b)");
    assert!(f.matches(&member("a")) && f.matches(&member("b")));
    assert!(!f.matches(&member("c")));
    // A dangling dependency id is left out.
    assert!(compiled_in(&ws, "deps(c)").matches(&member("c")));
    // `package(ext)`: a dependency, not a workspace package.
    assert_eq!(compile_err(&ws, "package(ext)").span, 8..11);
    assert_eq!(compile_err(&ws, "binary(build-script-build)").span, 7..25);
    // --no-deps metadata (or an old archive's) has no resolve.
    let mut no_deps = metadata.clone();
    no_deps.resolve = None;
    let ws = Workspace::from_metadata(&no_deps);
    assert!(
        compile_err(&ws, "deps(a)")
            .message
            .contains("cargo metadata did not give")
    );
    assert!(compiled_in(&ws, "package(a)").matches(&member("a")));
}
