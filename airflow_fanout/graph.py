"""A spec as a graph: the source, each sink, the ``from`` edges and routes, the dead-letter table;
laid out in columns (source, then each depth of ``from``, then the dead letters) and drawn as
SVG (pure text) or PNG (Pillow). Used by ``airflow-fanout graph`` and the Airflow UI page.

Pure Python: no pyspark, no airflow. Each sink node can carry its status (table version, txn
version, last run's rows), read by the caller without a JVM."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Literal

from airflow_fanout.spec.model import FanOutSpec, SinkSpec

NodeKind = Literal["source", "sink", "view", "dead_letter"]
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 270, 78, 90, 26, 20
COLORS: dict[NodeKind, tuple[str, str]] = {  # fill, border
    "source": ("#e8eef9", "#4a6fa5"),
    "sink": ("#e3f3e8", "#3f8f5a"),
    "view": ("#fdf3dd", "#b7862b"),
    "dead_letter": ("#fbe5e5", "#b24a4a"),
}


@dataclass
class Node:
    id: str
    kind: NodeKind
    title: str
    lines: list[str] = field(default_factory=list)
    column: int = 0
    row: float = 0  # may be half-way between rows, to centre a column

    @property
    def x(self) -> int:
        return MARGIN + self.column * (NODE_W + GAP_X)

    @property
    def y(self) -> int:
        return MARGIN + round(self.row * (NODE_H + GAP_Y))


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Graph:
    title: str
    nodes: list[Node]
    edges: list[Edge]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    @property
    def width(self) -> int:
        return 2 * MARGIN + (max(n.column for n in self.nodes) + 1) * (NODE_W + GAP_X) - GAP_X

    @property
    def height(self) -> int:
        return 2 * MARGIN + round((max(n.row for n in self.nodes) + 1) * (NODE_H + GAP_Y)) - GAP_Y


@dataclass(frozen=True)
class SinkFacts:
    """What a sink node shows beyond the spec (all optional)."""

    table_version: int | None = None
    txn_version: int | None = None
    last_rows: str | None = None  # e.g. "+500 ~12 -3"


def _depth(spec: FanOutSpec, sink: SinkSpec) -> int:
    depth, node = 1, sink
    while node.upstream is not None:
        depth += 1
        node = spec.sink(node.upstream)
    return depth


def _edge_label(spec: FanOutSpec, sink: SinkSpec) -> str:
    kind = spec.view_kind(sink)
    if sink.catch_all:
        return "catch_all"
    if sink.where:
        text = sink.where if len(sink.where) <= 34 else sink.where[:31] + "..."
        return f"where {text}"
    return {"aggregate": "aggregate", "keyed": "view", "changes": "changes"}.get(kind or "", "")


def spec_graph(spec: FanOutSpec, facts: dict[str, SinkFacts] | None = None) -> Graph:
    """The graph of ``spec``; ``facts`` (per sink name) adds each sink's current state."""
    facts = facts or {}
    source = spec.source
    nodes = [
        Node(
            "source",
            "source",
            f"source: {source.format}",
            [source.path or source.table or "(generated)", f"{spec.run.mode} run of {spec.app_id}"],
        )
    ]
    edges: list[Edge] = []
    rows_used: dict[int, int] = {}
    for sink in spec.sinks:
        column = _depth(spec, sink)
        kind: NodeKind = "view" if spec.view_kind(sink) is not None else "sink"
        what: str = "aggregate" if sink.aggregate is not None else sink.mode
        if spec.view_kind(sink) is not None:
            what = {"aggregate": "aggregate view", "keyed": "keyed view", "changes": "change log"}[
                spec.view_kind(sink) or "keyed"
            ]
        lines = [sink.path or f"table {sink.table}", what]
        state = facts.get(sink.name)
        if state is not None:
            version = "-" if state.table_version is None else str(state.table_version)
            txn = "-" if state.txn_version is None else str(state.txn_version)
            lines.append(f"version {version}, txn {txn}" + (f", {state.last_rows}" if state.last_rows else ""))
        row = rows_used.get(column, 0)
        rows_used[column] = row + 1
        nodes.append(Node(f"sink:{sink.name}", kind, sink.name, lines, column, row))
        upstream = f"sink:{sink.upstream}" if sink.upstream else "source"
        edges.append(Edge(upstream, f"sink:{sink.name}", _edge_label(spec, sink)))
    letters = [s for s in spec.sinks if any(e.on_fail == "dead_letter" for e in s.expect)]
    if spec.dead_letter is not None and (letters or spec.source.corrupt_records == "dead_letter"):
        column = max(n.column for n in nodes) + 1
        target = spec.dead_letter.path or f"table {spec.dead_letter.table}"
        nodes.append(Node("dead_letter", "dead_letter", "dead letters", [target], column, 0))
        for sink in letters:
            edges.append(Edge(f"sink:{sink.name}", "dead_letter", "", dashed=True))
        if spec.source.corrupt_records == "dead_letter":
            edges.append(Edge("source", "dead_letter", "unparseable", dashed=True))
    # Each column centred on the tallest one; the dead letters below everything, at the right.
    counts: dict[int, int] = {}
    for node in nodes:
        if node.kind != "dead_letter":
            counts[node.column] = counts.get(node.column, 0) + 1
    tallest = max(counts.values())
    for node in nodes:
        if node.kind == "dead_letter":
            node.row = tallest
        else:
            node.row += (tallest - counts[node.column]) / 2
    return Graph(spec.app_id, nodes, edges)


def route(graph: Graph, edge: Edge) -> list[tuple[float, float]]:
    """The edge as an orthogonal path: through the gap between two neighbouring columns, or, for
    a longer reach, down under every node and along the bottom (it never crosses a node)."""
    a, b = graph.node(edge.source), graph.node(edge.target)
    x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
    x2, y2 = b.x, b.y + NODE_H / 2
    if b.column - a.column == 1:
        middle = x1 + GAP_X / 2
        return [(x1, y1), (middle, y1), (middle, y2), (x2, y2)]
    below = max(n.y + NODE_H for n in graph.nodes if n.kind != "dead_letter") + GAP_Y / 2
    if b.kind == "dead_letter":
        below = b.y - GAP_Y / 2
    out, into = x1 + GAP_X / 3, x2 - GAP_X / 3
    return [(x1, y1), (out, y1), (out, below), (into, below), (into, y2), (x2, y2)]


def to_svg(graph: Graph) -> str:
    """The graph as a standalone SVG document (each sink's ``<g>`` has ``data-sink``)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{graph.width}" height="{graph.height}" '
        f'viewBox="0 0 {graph.width} {graph.height}" font-family="sans-serif" font-size="12" '
        f'data-graph="{escape(graph.title)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for edge in graph.edges:
        points = route(graph, edge)
        path = " L ".join(f"{x:g} {y:g}" for x, y in points)
        dash = ' stroke-dasharray="5,4"' if edge.dashed else ""
        out.append(
            f'<path d="M {path}" fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#arrow)" '
            f'data-edge="{escape(edge.source)}->{escape(edge.target)}"/>'
        )
        if edge.label:
            x2, y2 = points[-1]
            out.append(
                f'<text x="{x2 - 6:g}" y="{y2 - 6:g}" text-anchor="end" fill="#333" font-size="10">'
                f"{escape(edge.label)}</text>"
            )
    for node in graph.nodes:
        fill, border = COLORS[node.kind]
        sink = f' data-sink="{escape(node.title)}"' if node.id.startswith("sink:") else ""
        out.append(f'<g data-node="{escape(node.id)}" data-kind="{node.kind}"{sink}>')
        out.append(
            f'<rect x="{node.x}" y="{node.y}" width="{NODE_W}" height="{NODE_H}" rx="8" fill="{fill}" '
            f'stroke="{border}" stroke-width="1.6"/>'
        )
        out.append(f'<text x="{node.x + 10}" y="{node.y + 19}" font-weight="bold">{escape(node.title)}</text>')
        for i, line in enumerate(node.lines[:3]):
            shown = line if len(line) <= 44 else "..." + line[-41:]
            out.append(f'<text x="{node.x + 10}" y="{node.y + 37 + 15 * i}" fill="#333">{escape(shown)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def to_png(graph: Graph, path: str) -> None:
    """The graph as a PNG (needs Pillow: ``pip install pillow``)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError as exc:  # pragma: no cover - Pillow ships with the dev and graph extras
        raise RuntimeError("PNG output needs Pillow: pip install pillow (or write .svg)") from exc
    image = Image.new("RGB", (graph.width, graph.height), "white")
    draw = ImageDraw.Draw(image)
    for edge in graph.edges:
        points = route(graph, edge)
        draw.line(points, fill="#555555", width=2)
        x2, y2 = points[-1]
        draw.polygon([(x2, y2), (x2 - 9, y2 - 5), (x2 - 9, y2 + 5)], fill="#555555")
        if edge.label:
            draw.text((x2 - 8 - 6 * len(edge.label[:40]), y2 - 16), edge.label[:40], fill="#333333")
    for node in graph.nodes:
        fill, border = COLORS[node.kind]
        draw.rounded_rectangle(
            [node.x, node.y, node.x + NODE_W, node.y + NODE_H], radius=8, fill=fill, outline=border, width=2
        )
        draw.text((node.x + 10, node.y + 8), node.title, fill="#000000")
        for i, line in enumerate(node.lines[:3]):
            shown = line if len(line) <= 42 else "..." + line[-39:]
            draw.text((node.x + 10, node.y + 28 + 15 * i), shown, fill="#333333")
    image.save(path, "PNG")
