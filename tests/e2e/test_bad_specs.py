"""A corpus of malformed specs (``tests/data/bad_specs/``): each is rejected before Spark starts,
with exit code 2 and an error naming its JSON path, and nothing is written anywhere.

``expected.json`` lists every file: its ``category``, the ``defect``, every JSON ``paths`` the error
must name (``""`` is the whole document, printed as ``<spec>``), a fragment the message ``contains``,
optional ``--param`` values (``params``), and ``needs_spark_parser`` for SQL that only Spark's parser
rejects (the driver parses it through the JVM gateway, still before any SparkContext exists)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypedDict

import pytest

from airflow_fanout import cli
from airflow_fanout.driver import main as driver
from airflow_fanout.spec.validate import load_spec_file, validate_spec

BAD_SPECS = Path(__file__).resolve().parents[1] / "data" / "bad_specs"
MANIFEST_FILE = "expected.json"
CATEGORIES = frozenset(
    {
        "wrong_type",
        "unknown_key",
        "missing_field",
        "bad_enum",
        "bad_name",
        "duplicate",
        "from_graph",
        "sink_rules",
        "aggregate",
        "batch_slice",
        "trigger",
        "views",
        "params",
        "sql_lexical",
        "sql_grammar",
        "not_json",
    }
)
EXIT_INVALID_SPEC = 2
#: One line per issue in a SpecError: ``  - <path>: <message>`` (the root path is shown as <spec>).
ISSUE_LINE = re.compile(r"^  - (\S+?): ", re.MULTILINE)


class _ExpectedAlways(TypedDict):
    category: str
    defect: str
    paths: list[str]
    contains: str


class Expected(_ExpectedAlways, total=False):  # typing.Required is 3.11+
    params: dict[str, str]
    needs_spark_parser: bool


def load_manifest() -> dict[str, Expected]:
    manifest: dict[str, Expected] = json.loads((BAD_SPECS / MANIFEST_FILE).read_text(encoding="utf-8"))
    return manifest


MANIFEST = load_manifest()


def needs_spark(name: str) -> bool:
    return MANIFEST[name].get("needs_spark_parser", False)


def cases(*, with_spark_parser: bool) -> list[Any]:
    """One parametrization per spec; those that need Spark's parser are marked ``spark``."""
    params = []
    for name in sorted(MANIFEST):
        if needs_spark(name) and not with_spark_parser:
            continue
        marks = [pytest.mark.spark] if needs_spark(name) else []
        params.append(pytest.param(name, id=name.removesuffix(".json"), marks=marks))
    return params


def param_args(entry: Expected) -> list[str]:
    return [arg for k, v in sorted(entry.get("params", {}).items()) for arg in ("--param", f"{k}={v}")]


def reported_paths(output: str) -> set[str]:
    return set(ISSUE_LINE.findall(output))


def assert_rejected_naming_paths(output: str, entry: Expected) -> None:
    assert "invalid fan-out spec" in output, output
    assert reported_paths(output) == {path or "<spec>" for path in entry["paths"]}, output
    assert entry["contains"] in output, output


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def forbid(what: str) -> Callable[..., NoReturn]:
    def guard(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"an invalid spec must be rejected before {what}")

    return guard


@pytest.fixture
def spec_in_empty_cwd(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The parametrized spec copied alone into a fresh working directory (its paths are relative)."""
    name: str = request.param
    if needs_spark(name):
        # The JVM gateway the Catalyst parser runs on (spark-submit's own, in production), started
        # before the chdir. main() creates no SparkContext for an invalid spec: the session is untouched.
        request.getfixturevalue("spark")
    shutil.copyfile(BAD_SPECS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield name
    # main() calls logging.basicConfig(force=True) on capsys's stderr: give the root logger back.
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("spec_in_empty_cwd", cases(with_spark_parser=True), indirect=True)
def test_driver_exits_2_naming_every_path_and_writes_nothing(
    spec_in_empty_cwd: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = spec_in_empty_cwd
    entry = MANIFEST[name]
    if not needs_spark(name):
        monkeypatch.setattr("airflow_fanout.driver.preflight.expression_parser", forbid("Spark's parser is needed"))
    monkeypatch.setattr("airflow_fanout.driver.session.build_session", forbid("a SparkSession starts"))

    code = driver.main(["--spec", name, "--report", "report.json", *param_args(entry)])

    out, err = capsys.readouterr()
    assert code == EXIT_INVALID_SPEC, err
    assert out == ""  # stdout carries only the report path, and there is no report
    assert_rejected_naming_paths(err, entry)
    assert files_under(tmp_path) == [name]  # no lake/, state/, report.json, spark-warehouse, derby.log


@pytest.mark.parametrize("spec_in_empty_cwd", cases(with_spark_parser=False), indirect=True)
def test_cli_validate_exits_2_naming_every_path(
    spec_in_empty_cwd: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = spec_in_empty_cwd
    entry = MANIFEST[name]

    code = cli.main(["validate", name, *param_args(entry)])

    out, err = capsys.readouterr()
    assert code == EXIT_INVALID_SPEC, out + err
    assert out == ""
    assert_rejected_naming_paths(err, entry)
    assert files_under(tmp_path) == [name]


def test_spark_parser_cases_are_otherwise_valid() -> None:
    """A needs_spark_parser spec passes the pure-Python validation: its only defect is grammar that
    Spark's parser alone rejects, so the driver test really exercises the preflight parse."""
    spark_cases = [name for name in MANIFEST if needs_spark(name)]
    assert len(spark_cases) >= 3
    for name in spark_cases:
        doc = load_spec_file(BAD_SPECS / name)
        assert validate_spec(doc, MANIFEST[name].get("params")) == [], name


def test_manifest_and_directory_agree() -> None:
    on_disk = {p.name for p in BAD_SPECS.iterdir()} - {MANIFEST_FILE}
    assert sorted(on_disk - set(MANIFEST)) == [], "spec files missing from expected.json"
    assert sorted(set(MANIFEST) - on_disk) == [], "expected.json lists files that do not exist"
    assert all(name.endswith(".json") for name in on_disk)
    assert len(MANIFEST) >= 60

    for name, entry in MANIFEST.items():
        assert {"category", "defect", "paths", "contains"} <= set(entry), name
        assert set(entry) <= Expected.__required_keys__ | Expected.__optional_keys__, name
        assert entry["category"] in CATEGORIES, name
        assert entry["paths"] and all(isinstance(p, str) for p in entry["paths"]), name
        assert entry["contains"], name
        assert needs_spark(name) == (entry["category"] == "sql_grammar"), name
        assert all(isinstance(v, str) for v in entry.get("params", {}).values()), name

    per_category = Counter(entry["category"] for entry in MANIFEST.values())
    assert {c: n for c, n in per_category.items() if n < 3} == {}
    assert set(per_category) == CATEGORIES


def test_specs_use_only_relative_paths() -> None:
    """So a run in an empty working directory shows that nothing was written anywhere."""

    def locations(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("path", "checkpoint") and isinstance(value, str):
                    yield value
                else:
                    yield from locations(value)
        elif isinstance(node, list):
            for item in node:
                yield from locations(item)

    checked = 0
    for name in MANIFEST:
        try:
            doc = json.loads((BAD_SPECS / name).read_bytes())
        except (ValueError, RecursionError):
            continue  # the not_json cases
        for location in locations(doc):
            assert not location.startswith(("/", "~")) and "://" not in location and ".." not in location, name
            checked += 1
    assert checked > len(MANIFEST)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_submit_rejects_sql_only_spark_parses_and_writes_nothing(tmp_path: Path) -> None:
    from airflow_fanout.submit import submit_command, submit_env

    name = "sql_spark_sink_where.json"
    entry = MANIFEST[name]
    assert entry.get("needs_spark_parser")
    shutil.copyfile(BAD_SPECS / name, tmp_path / name)
    command = submit_command(name, params=entry.get("params"), master="local[1]", report="report.json")

    done = subprocess.run(command, cwd=tmp_path, env=submit_env(), capture_output=True, text=True, timeout=600)

    output = done.stdout + done.stderr
    assert done.returncode == EXIT_INVALID_SPEC, output[-3000:]
    assert_rejected_naming_paths(output, entry)
    assert files_under(tmp_path) == [name]
