"""``:name`` parameter markers, binding, literals and the lexical SQL check. Pure Python."""

from __future__ import annotations

import pytest

from airflow_fanout.spec.params import (
    PARAM_COLUMN_PREFIX,
    bind_markers,
    lexical_problem,
    param_column,
    param_names,
    render_with_literals,
    sql_literal,
)


def read_spark_string(text: str, start: int) -> tuple[str, int]:
    """Read the Spark SQL string literal opened at ``start`` (backslash escapes, as Spark's
    default lexer): its value and the index just past its closing quote."""
    quote = text[start]
    assert quote in ("'", '"'), f"no string literal at offset {start}: {text!r}"
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise AssertionError(f"unterminated literal in {text!r}")


# ----------------------------------------------------------------------------- scanning


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("a = :x AND b = :y_1 OR c = :x", ["x", "y_1"]),
        (":_private", ["_private"]),
        ("f(:a,:b)", ["a", "b"]),
        (":x", ["x"]),
        ("a = ':x'", []),
        ('a = ":x"', []),
        ("`:x` = 1", []),
        ("`odd:col` = :y", ["y"]),
        ("a = 1 -- :x is commented out\nAND b = :y", ["y"]),
        ("a = 1 -- :x to the end", []),
        ("/* :x */ b = :y", ["y"]),
        ("/* :x never closed", []),
        ("amount::int > 0", []),
        ("CAST(:d AS DATE)::string", ["d"]),
        (":d::date", ["d"]),
        ("a :: b", []),
        ("::x", []),
        ("a = :1", []),
        ("a = : x", []),
        ("'it\\'s :x' = :y", ["y"]),
        ("'a\\\\' = :y", ["y"]),  # an escaped backslash does not escape the closing quote
        ("'unterminated :x", []),
        ("m[':k'] = :v", ["v"]),
        ("time = '10:30:00'", []),
    ],
)
def test_param_names(sql: str, names: list[str]) -> None:
    assert param_names(sql) == names


def test_param_column() -> None:
    assert PARAM_COLUMN_PREFIX == "__fanout_param__"
    assert param_column("ds") == "__fanout_param__ds"


# ----------------------------------------------------------------------------- bind_markers


def test_bind_markers_rewrites_markers_to_hidden_columns() -> None:
    assert bind_markers("a = :x AND b::int = :y OR c = :x") == (
        "a = `__fanout_param__x` AND b::int = `__fanout_param__y` OR c = `__fanout_param__x`"
    )


def test_bind_markers_keeps_markers_in_strings_comments_and_identifiers() -> None:
    sql = "a = ':x' AND `:y` = \":z\" /* :w */ AND d = :v -- :u"
    assert bind_markers(sql) == "a = ':x' AND `:y` = \":z\" /* :w */ AND d = `__fanout_param__v` -- :u"


def test_bind_markers_with_cast() -> None:
    assert bind_markers("event_date = :ds::date") == "event_date = `__fanout_param__ds`::date"


def test_bind_markers_without_markers_is_identity() -> None:
    sql = "amount::double > 0 AND note <> ':not'"
    assert bind_markers(sql) == sql


# ----------------------------------------------------------------------------- sql_literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (True, "TRUE"),
        (False, "FALSE"),
        (0, "0"),
        (42, "42"),
        (-7, "(-7)"),
        (1.5, "1.5"),
        (-0.25, "(-0.25)"),
        (1e20, "1e+20"),
        (float("nan"), "CAST('NaN' AS DOUBLE)"),
        (float("inf"), "CAST('Infinity' AS DOUBLE)"),
        (float("-inf"), "CAST('-Infinity' AS DOUBLE)"),
        ("plain", "'plain'"),
        ("", "''"),
        ("it's", "'it\\'s'"),
        ("a\\b", "'a\\\\b'"),
        ("\\", "'\\\\'"),
        ("\\'", "'\\\\\\''"),
    ],
)
def test_sql_literal(value: str | int | float | bool, literal: str) -> None:
    assert sql_literal(value) == literal


# ----------------------------------------------------------------------------- render_with_literals


def test_render_with_literals_mixed_types() -> None:
    sql = "ds = :ds AND n >= :n AND f = :flag AND r < :ratio AND note <> ':ds' -- :ds"
    params: dict[str, str | int | float | bool] = {"ds": "2024-01-01", "n": 3, "flag": True, "ratio": 0.5}
    assert render_with_literals(sql, params) == (
        "ds = '2024-01-01' AND n >= 3 AND f = TRUE AND r < 0.5 AND note <> ':ds' -- :ds"
    )


def test_render_with_literals_cast() -> None:
    assert render_with_literals("d = :ds::date", {"ds": "2024-01-01"}) == "d = '2024-01-01'::date"


def test_render_with_literals_missing_param_raises() -> None:
    with pytest.raises(KeyError):
        render_with_literals("d = :ds", {})


INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE t; --",
    "2024-01-01' OR 1=1 --",
    "\\",
    "\\'",
    "a\\' OR 1=1 --",
    "a\\\\' OR 1=1 --",
    "\\\\\\'",
    "/* comment */",
    "*/ OR 1=1 /*",
    "-- trailing comment",
    "it''s",
    '" OR ""="',
    "`ident`",
    ":other",
    "\n) OR (1=1",
    "; DELETE FROM t",
    "\\u0027 OR 1=1",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_render_with_literals_injection_stays_one_literal(payload: str) -> None:
    prefix, suffix = "ds = ", " AND region = 'eu'"
    rendered = render_with_literals(prefix + ":v" + suffix, {"v": payload, "other": "SHOULD NOT APPEAR"})
    assert rendered.startswith(prefix)
    value, end = read_spark_string(rendered, len(prefix))
    assert value == payload
    assert rendered[end:] == suffix
    # the rendered predicate is still one well-formed expression, with no markers left to expand
    assert lexical_problem(rendered) is None
    assert param_names(rendered) == []
    assert "SHOULD NOT APPEAR" not in rendered


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_literal_is_one_literal(payload: str) -> None:
    literal = sql_literal(payload)
    value, end = read_spark_string(literal, 0)
    assert (value, end) == (payload, len(literal))


def test_render_negative_number_cannot_start_a_comment() -> None:
    rendered = render_with_literals("x -:n AND y = 1", {"n": -5})
    assert rendered == "x -(-5) AND y = 1"
    assert "--" not in rendered
    assert render_with_literals("x-:f > 0", {"f": -1.5}) == "x-(-1.5) > 0"


def test_render_marker_after_identifier_char_does_not_make_a_prefixed_literal() -> None:
    # r'...' is a raw string (no escapes) and x'...' a hex literal in Spark: keep them apart.
    assert render_with_literals("r:v", {"v": "a"}) == "r 'a'"
    assert render_with_literals("(:v)", {"v": "a"}) == "('a')"


def test_render_with_literals_value_is_not_rescanned() -> None:
    assert render_with_literals("a = :x AND b = :y", {"x": ":y", "y": "Y"}) == "a = ':y' AND b = 'Y'"


# ----------------------------------------------------------------------------- lexical_problem


@pytest.mark.parametrize(
    "sql",
    [
        "a = 1",
        "f(a[1], (b + c)) > 0",
        "a = ';'",
        'a = ";"',
        "a = '('",
        "a = 1 -- ; ( unbalanced in a comment",
        "/* ; ( */ a = 1",
        "`a;b(` = 1",
        "a = 'it\\'s'",
        "a = 'x' 'y'",
        "amount::int > 0",
        "a = :p",
    ],
)
def test_lexical_problem_accepts(sql: str) -> None:
    assert lexical_problem(sql) is None


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("", "expression is empty"),
        (" \n\t", "expression is empty"),
        ("f(a", "unbalanced '(' or '[': a closing bracket is missing"),
        ("a[1", "unbalanced '(' or '[': a closing bracket is missing"),
        ("f(a))", "unbalanced ')' at offset 4"),
        (")(", "unbalanced ')' at offset 0"),
        ("a]", "unbalanced ']' at offset 1"),
        ("f(a]", "unbalanced ']' at offset 3"),
        ("a[1)", "unbalanced ')' at offset 3"),
        ("a = 'x", "unterminated string literal starting at offset 4"),
        ('a = "x', "unterminated string literal starting at offset 4"),
        ("a = 'x\\'", "unterminated string literal starting at offset 4"),
        ("a = 'x\\", "unterminated string literal starting at offset 4"),
        ("`col", "unterminated quoted identifier starting at offset 0"),
        ("a /* b", "unterminated comment starting at offset 2"),
        ("a = 1;", "';' is not allowed in an expression"),
        ("a = 1; DROP TABLE t", "';' is not allowed in an expression"),
    ],
)
def test_lexical_problem_rejects(sql: str, problem: str) -> None:
    assert lexical_problem(sql) == problem
