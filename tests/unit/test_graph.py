"""A spec as a graph (columns by ``from`` depth, edges with their routes, the dead letters), drawn
as SVG and PNG, and the fan-out page built from it: plain Python, no Spark, no Airflow."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_fanout import cli
from airflow_fanout.graph import SinkFacts, route, spec_graph, to_png, to_svg
from airflow_fanout.plugins.page import describe, render
from airflow_fanout.spec import parse_spec
from tests.driver.test_views import views_spec


def test_columns_edges_and_facts(tmp_path: Path) -> None:
    spec = parse_spec(views_spec(tmp_path))
    graph = spec_graph(spec, {"silver": SinkFacts(table_version=4, txn_version=3, last_rows="+500 ~12 -0")})
    columns = {n.id: n.column for n in graph.nodes}
    assert columns["source"] == 0 and columns["sink:silver"] == 1
    assert {columns[f"sink:{v}"] for v in ("gold", "hourly", "orders", "refunds", "others", "silver_changes")} == {2}
    assert columns["dead_letter"] == 3
    labels = {(e.source, e.target): e.label for e in graph.edges}
    assert labels[("sink:silver", "sink:orders")] == "where event_type = 'order'"
    assert labels[("sink:silver", "sink:others")] == "catch_all"
    assert labels[("sink:silver", "sink:gold")] == "aggregate"
    assert ("source", "dead_letter") in labels and ("sink:silver", "dead_letter") in labels
    assert "version 4, txn 3, +500 ~12 -0" in graph.node("sink:silver").lines
    # a long edge runs under every node, never through one
    long = route(graph, next(e for e in graph.edges if e.target == "dead_letter" and e.source == "source"))
    lowest = max(n.y + 78 for n in graph.nodes if n.kind != "dead_letter")
    assert all(y > lowest for _, y in long[2:4])

    svg = to_svg(graph)
    assert svg.startswith("<svg") and svg.count("data-sink=") == len(spec.sinks)
    to_png(graph, str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_graph_writes_svg_and_png(tmp_path: Path, capsys: object) -> None:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(views_spec(tmp_path)))
    assert cli.main(["graph", str(spec_path), "-o", str(tmp_path / "g.svg")]) == 0
    assert 'data-sink="gold"' in (tmp_path / "g.svg").read_text()
    assert cli.main(["graph", str(spec_path), "--status", "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_the_page_shows_each_sink_with_its_state_and_last_run(tmp_path: Path) -> None:
    doc = views_spec(tmp_path)
    last_run = {"status": "succeeded", "batches": 2, "sinks": {"silver": {"rows_inserted": 7, "rows_updated": 2}}}
    task = describe("dag_a", "write", "FanOutSubmitOperator", doc, last_run)
    html = render([task], "dag_a")
    assert "data-dag='dag_a'" in html and "data-task='write'" in html
    assert "<tr data-sink='silver' data-version='-' data-txn='-'>" in html  # no table yet
    assert "7 / 2 / 0" in html and "last run: <b>succeeded</b>, 2 batch(es)" in html
    templated = describe("dag_a", "write", "FanOutSubmitOperator", "specs/daily.json", None)
    assert templated.problem is not None and "not rendered yet" in templated.problem
    assert "class='problem'" in render([templated])
