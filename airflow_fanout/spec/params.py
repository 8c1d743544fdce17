"""``:name`` parameter markers in SQL expressions.

Parameters are data, never SQL: a marker is rewritten to a reference to a hidden column
(``__fanout_param__<name>``) and the driver adds that column as ``lit(value)`` before it
evaluates the expression. The value itself never enters SQL text, so quotes, semicolons or
comments in a value can only change the literal compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

PARAM_COLUMN_PREFIX = "__fanout_param__"
_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")


def _scan(sql: str) -> Iterator[tuple[int, int, str]]:
    """Yield (start, end, name) of each ``:name`` marker outside strings, identifiers and comments."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            i = _skip_string(sql, i)
        elif ch == "`":
            end = sql.find("`", i + 1)
            i = n if end < 0 else end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == ":" and i + 1 < n and _IDENT_START.match(sql[i + 1]) and (i == 0 or sql[i - 1] != ":"):
            j = i + 2
            while j < n and _IDENT_CHAR.match(sql[j]):
                j += 1
            yield i, j, sql[i + 1 : j]
            i = j
        else:
            i += 1


def _string_end(sql: str, start: int) -> int | None:
    """Index just past the string literal opened at ``start``, or None when it never closes."""
    quote, i, n = sql[start], start + 1, len(sql)
    while i < n:
        if sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            return i + 1
        i += 1
    return None


def _skip_string(sql: str, start: int) -> int:
    end = _string_end(sql, start)
    return len(sql) if end is None else end


def param_names(sql: str) -> list[str]:
    """Names of the ``:name`` markers used in ``sql``, in order of first use."""
    seen: list[str] = []
    for _, _, name in _scan(sql):
        if name not in seen:
            seen.append(name)
    return seen


def param_column(name: str) -> str:
    """The hidden column that carries parameter ``name`` as a literal."""
    return f"{PARAM_COLUMN_PREFIX}{name}"


def bind_markers(sql: str) -> str:
    """Rewrite each ``:name`` marker to a backquoted reference to its hidden literal column."""
    out: list[str] = []
    last = 0
    for start, end, name in _scan(sql):
        out.append(sql[last:start])
        out.append(f"`{param_column(name)}`")
        last = end
    out.append(sql[last:])
    return "".join(out)


def lexical_problem(sql: str) -> str | None:
    """A cheap, Spark-free check of an SQL expression: unbalanced quotes, brackets, comments,
    or a statement separator. Returns a description of the first problem, or None.

    The driver also parses every expression with Spark's own parser before it reads data."""
    open_brackets: list[str] = []
    i, n = 0, len(sql)
    if not sql.strip():
        return "expression is empty"
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = _string_end(sql, i)
            if end is None:
                return f"unterminated string literal starting at offset {i}"
            i = end
            continue
        if ch == "`":
            end = sql.find("`", i + 1)
            if end < 0:
                return f"unterminated quoted identifier starting at offset {i}"
            i = end + 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                return f"unterminated comment starting at offset {i}"
            i = end + 2
            continue
        if ch == ";":
            return "';' is not allowed in an expression"
        if ch in "([":
            open_brackets.append(ch)
        elif ch in ")]" and (not open_brackets or open_brackets.pop() != ("(" if ch == ")" else "[")):
            return f"unbalanced '{ch}' at offset {i}"
        i += 1
    if open_brackets:
        return "unbalanced '(' or '[': a closing bracket is missing"
    return None


def sql_literal(value: str | int | float | bool) -> str:
    """A Spark SQL literal for ``value``, escaped so no value can end the literal.

    Used only where Delta takes a predicate as text (``replaceWhere``); everywhere else
    parameters are bound as ``lit()`` columns (see ``bind_markers``)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            return f"CAST('{name}' AS DOUBLE)"
        text = repr(value)
        # Parenthesized when negative, so "x -:p" cannot become the comment "x --5".
        return f"({text})" if text.startswith("-") else text
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def render_with_literals(sql: str, params: dict[str, str | int | float | bool]) -> str:
    """``sql`` with each ``:name`` marker replaced by ``sql_literal(params[name])``."""
    out: list[str] = []
    last = 0
    for start, end, name in _scan(sql):
        out.append(sql[last:start])
        if start > 0 and _IDENT_CHAR.match(sql[start - 1]):
            out.append(" ")  # "r:p" must not become the raw-string prefix r'...' (or x'...', hex)
        out.append(sql_literal(params[name]))
        last = end
    out.append(sql[last:])
    return "".join(out)
