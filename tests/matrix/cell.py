"""One cell of the install matrix: a fresh virtualenv of one Python with one Airflow, installed the
way a user installs the provider into a deployment, then used.

The steps (``CellRun``), each checked on what it produced:

1. ``airflow_side``: ``pip install apache-airflow==A <the built wheel> --constraint <Airflow's
   constraints for that Python>``; no pyspark distribution may come with it (only the apache-spark
   provider's pyspark-client).
   ``wheel_after_airflow``: the other common way, in a second venv: Airflow alone with its
   constraints, then a plain ``pip install <wheel>`` (Airflow must not move; ``pip check``).
2. ``imports``: every module of the package imports (the driver's only after step 6: they need
   pyspark); ``provider_and_cli``: ``airflow providers list`` names the provider at the wheel's
   version, ``airflow-fanout validate`` accepts the medallion spec and names the bad field of a
   broken one.
3. ``spark_lookup`` and ``dag_without_spark``: with no Spark, the lookup and the DAG's task say
   what to install (pyspark-client is not a Spark); with ``SPARK_HOME`` the Delta coordinate
   follows that Spark.
4. ``dag_remote_spark``: the medallion backfill DAG (``dag.test()``) for one date, submitting with
   a Spark that lives elsewhere (``SPARK_HOME`` = this repository's pyspark, a Spark this venv did
   not install); the driver runs on the cell's Python with pyspark from that Spark's own zip.
   Bronze, silver and gold must hold exactly the expected rows (read here with delta-rs).
5. ``spark_extra`` (optional): Airflow's second install step, without constraints and naming
   ``apache-airflow==A``: ``<wheel>[spark,openlineage,graph]`` with pyspark at the pyspark-client
   version step 1 installed (both write the ``pyspark`` package).
6. ``imports_all``, ``unit_tests`` (a copy of ``tests/`` and ``benchmarks/`` run against the
   installed wheel, so the repository's sources are not on the path) and ``dag_local_spark``: the
   DAG again with the cell's own pyspark (Delta's jars through Ivy when that Spark is not 4.2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_fanout.examples.medallion import backfill_dag_spec
from airflow_fanout.sample_data import START, Event, generate_events, write_landing_batch
from tests.driver.helpers import gold_as_dict, rows
from tests.expected import gold_rows, silver_rows
from tests.matrix.constraints import airflow_constraints

ROOT = Path(__file__).resolve().parents[2]
DAG_RUNNER = ROOT / "tests" / "airflow" / "dag_runner.py"
#: Environment variables a cell must not inherit from the repository's venv or make.
INHERITED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SPARK_HOME", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
DS = "2026-11-01"


@dataclass(frozen=True)
class Cell:
    python: str  # "3.10"
    airflow: str  # "3.2.2"

    @property
    def name(self) -> str:
        return f"python{self.python}-airflow{self.airflow}"


def interpreter(python: str) -> str | None:
    """A ``python<version>`` on this machine: pyenv's, else one on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{python}.*"), reverse=True):
        exe = candidate / "bin" / "python"
        if exe.is_file():
            return str(exe)
    return shutil.which(f"python{python}")


def repo_spark_home() -> str:
    from airflow_fanout.spark_install import spark_home

    return spark_home()


class CellFailure(AssertionError):
    pass


@dataclass
class StepResult:
    name: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


class CellRun:
    """The steps of one cell in ``root`` (its venv, logs, Airflow home, lake)."""

    def __init__(self, cell: Cell, root: Path, wheel: Path, say: Callable[[str], None] = print) -> None:
        exe = interpreter(cell.python)
        if exe is None:
            raise CellFailure(f"no Python {cell.python} on this machine (pyenv or PATH)")
        self.cell, self.root, self.wheel, self.say, self.exe = cell, root, wheel, say, exe
        self.venv = root / "venv"
        self.bin = self.venv / "bin"
        self.log = root / "cell.log"
        self.steps: list[StepResult] = []
        self.migrated = False

    # -- plumbing ---------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """A user's shell in the cell's venv: nothing from the repository's venv or make."""
        env = {k: v for k, v in os.environ.items() if k not in INHERITED}
        path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))]
        env["PATH"] = os.pathsep.join([str(self.bin), *path])
        env["AIRFLOW_HOME"] = str(self.root / "airflow")
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
        env["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps({"conn_type": "spark", "host": "local[2]"})
        env["FANOUT_LAKE"] = str(self.root / "lake")
        return {**env, **extra}

    def run(self, *cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None, both: bool = False) -> str:
        """Run ``cmd`` (logged to cell.log); its stdout (``both``: and stderr), or ``CellFailure``."""
        done = subprocess.run(
            list(cmd), env=env or self.env(), capture_output=True, text=True, timeout=1200, cwd=cwd or self.root
        )
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}[exit {done.returncode}]\n")
        if done.returncode != 0:
            printed = (done.stdout + done.stderr)[-3000:]
            raise CellFailure(f"{self.cell.name}: `{' '.join(cmd)}` exited {done.returncode}:\n{printed}")
        return done.stdout + done.stderr if both else done.stdout

    def python(self, code: str, env: dict[str, str] | None = None) -> Any:
        """Run ``code`` on the cell's Python; it prints one JSON document, returned."""
        return json.loads(self.run(str(self.bin / "python"), "-c", code, env=env).strip().splitlines()[-1])

    def step(self, name: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        started = time.monotonic()
        self.say(f"[{self.cell.name}] {name} ...")
        detail = action()
        result = StepResult(name, round(time.monotonic() - started, 1), detail)
        self.steps.append(result)
        self.say(f"[{self.cell.name}] {name}: ok in {result.seconds} s {json.dumps(detail, default=str)[:300]}")
        return detail

    def pip(self, *args: str) -> str:
        return self.run(str(self.bin / "python"), "-m", "pip", "--disable-pip-version-check", *args)

    def distributions(self, *names: str) -> dict[str, str | None]:
        code = (
            "import json, importlib.metadata as m\n"
            "def v(n):\n try: return m.version(n)\n except m.PackageNotFoundError: return None\n"
            f"print(json.dumps({{n: v(n) for n in {list(names)!r}}}))"
        )
        found: dict[str, str | None] = self.python(code)
        return found

    # -- steps ------------------------------------------------------------------------------
    def airflow_side(self) -> dict[str, Any]:
        constraints = airflow_constraints(self.cell.airflow, self.cell.python, self.exe)
        if self.venv.exists():
            shutil.rmtree(self.venv)
        self.run(self.exe, "-m", "venv", str(self.venv), env=self.env())
        self.pip("install", "-q", "--upgrade", "pip")
        self.pip(
            "install", "-q", f"apache-airflow=={self.cell.airflow}", str(self.wheel), "--constraint", str(constraints)
        )
        found = self.distributions("apache-airflow", "airflow-fanout", "pyspark", "pyspark-client", "delta-spark")
        if found["apache-airflow"] != self.cell.airflow or not found["airflow-fanout"]:
            raise CellFailure(f"{self.cell.name}: installed {found}")
        if found["pyspark"] or found["delta-spark"]:
            raise CellFailure(f"{self.cell.name}: the Airflow side pulled in Spark: {found}")
        return {"constraints": constraints.name, "stand_in": "STAND-IN" in constraints.read_text()[:200], **found}

    def wheel_after_airflow(self) -> dict[str, Any]:
        """The other common way, in a second venv: Airflow alone with its constraints, then a plain
        ``pip install <wheel>``. Airflow must not move, ``pip check`` must pass and the provider
        must register; what else moved (constraints not applied to the second step) is reported."""
        constraints = airflow_constraints(self.cell.airflow, self.cell.python, self.exe)
        venv = self.root / "venv-plain"
        self.run(self.exe, "-m", "venv", str(venv), env=self.env())
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        self.run(*pip, "install", "-q", "--upgrade", "pip")
        self.run(*pip, "install", "-q", f"apache-airflow=={self.cell.airflow}", "--constraint", str(constraints))
        freeze = [*pip, "list", "--format", "json"]
        before = {d["name"].lower(): d["version"] for d in json.loads(self.run(*freeze))}
        self.run(*pip, "install", "-q", str(self.wheel))
        after = {d["name"].lower(): d["version"] for d in json.loads(self.run(*freeze))}
        self.run(*pip, "check")
        moved = {name: f"{before[name]} -> {after.get(name)}" for name in before if after.get(name) != before[name]}
        if "apache-airflow" in moved or "apache-airflow-core" in moved:
            raise CellFailure(f"{self.cell.name}: installing the wheel moved Airflow: {moved}")
        listed = self.run(str(venv / "bin" / "airflow"), "providers", "list", env=self.env(PATH=str(venv / "bin")))
        if "airflow-fanout" not in listed:
            raise CellFailure(f"{self.cell.name}: plain install: providers list lacks airflow-fanout")
        shutil.rmtree(venv)
        return {"moved": moved, "added": len(set(after) - set(before))}

    def imports(self, *, with_driver: bool) -> dict[str, Any]:
        code = (
            "import importlib, json, pkgutil, airflow_fanout\n"
            f"driver_too = {with_driver!r}\n"
            "airflow_side = ('airflow_fanout.driver.main', 'airflow_fanout.driver.report')\n"
            "done, failed = [], {}\n"
            "for m in pkgutil.walk_packages(airflow_fanout.__path__, 'airflow_fanout.'):\n"
            "    if not driver_too and m.name.startswith('airflow_fanout.driver.') and m.name not in airflow_side:\n"
            "        continue\n"
            "    try:\n        importlib.import_module(m.name); done.append(m.name)\n"
            "    except Exception as exc:\n        failed[m.name] = repr(exc)\n"
            "print(json.dumps({'imported': len(done), 'failed': failed, 'file': airflow_fanout.__file__}))"
        )
        found: dict[str, Any] = self.python(code)
        if found["failed"] or (str(ROOT) in found["file"] and "site-packages" not in found["file"]):
            raise CellFailure(f"{self.cell.name}: imports {found}")
        return found

    def provider_and_cli(self) -> dict[str, Any]:
        listed = json.loads(self.run(str(self.bin / "airflow"), "providers", "list", "-o", "json"))
        mine = [p for p in listed if p.get("package_name") == "airflow-fanout"]
        wheel_version = self.wheel.name.split("-")[1]
        if not mine or mine[0].get("version") != wheel_version:
            raise CellFailure(f"{self.cell.name}: providers list has no airflow-fanout {wheel_version}: {listed}")
        spec = self.root / "spec.json"
        spec.write_text(json.dumps(backfill_dag_spec(str(self.root / "lake"))), encoding="utf-8")
        valid = self.run(str(self.bin / "airflow-fanout"), "validate", str(spec))
        broken = self.root / "broken.json"
        doc = json.loads(spec.read_text())
        doc["sinks"][0]["mode"] = "sideways"
        broken.write_text(json.dumps(doc), encoding="utf-8")
        bad = subprocess.run(
            [str(self.bin / "airflow-fanout"), "validate", str(broken)], env=self.env(), capture_output=True, text=True
        )
        if bad.returncode == 0 or "sinks[0].mode" not in bad.stdout + bad.stderr:
            raise CellFailure(f"{self.cell.name}: a bad mode passed validation: {bad.stdout}{bad.stderr}")
        return {"provider": mine[0]["version"], "validate": valid.strip().splitlines()[-1][:120]}

    def dag_test(self, name: str, **env: str) -> tuple[dict[str, Any], str]:
        """``dag.test()`` of the medallion backfill DAG for ``DS`` on the cell's Python: what
        Airflow stored (tests/airflow/dag_runner.py) and what the run printed."""
        run_env = self.env(**env)
        if not self.migrated:
            self.run(str(self.bin / "airflow"), "db", "migrate", env=run_env)
            self.migrated = True
        out = self.root / f"{name}.json"
        dag = [str(ROOT / "dags" / "medallion_backfill.py"), "fanout_medallion_backfill", f"{DS}T00:00:00+00:00"]
        printed = self.run(str(self.bin / "python"), str(DAG_RUNNER), *dag, str(out), env=run_env, both=True)
        return json.loads(out.read_text()), printed

    def dag_run(self, name: str, **env: str) -> dict[str, Any]:
        """The medallion backfill DAG for ``DS`` with a fresh lake; the tables are checked here."""
        lake = self.root / "lake"
        shutil.rmtree(lake, ignore_errors=True)
        events: list[Event] = [
            e for e in generate_events(0, 80, start=START) if e.event_time.strftime("%Y-%m-%d") == DS
        ]
        write_landing_batch(lake / "landing", 0, events)
        result, _ = self.dag_test(name, **env)
        if result["tasks"] != {"write_day": "success", "read_gold": "success"}:
            raise CellFailure(f"{self.cell.name}: {name}: {result['tasks']}")
        tables = lake / "backfill"
        bronze, silver = rows(f"{tables}/bronze/events"), rows(f"{tables}/silver/events")
        if len(bronze) != len(events) or sorted(r["event_id"] for r in silver) != sorted(silver_rows(events)):
            raise CellFailure(f"{self.cell.name}: {name}: bronze {len(bronze)} / silver {len(silver)} rows")
        if gold_as_dict(f"{tables}/gold/revenue_5min") != gold_rows(events):
            raise CellFailure(f"{self.cell.name}: {name}: gold differs from its query over silver")
        return {"bronze": len(bronze), "silver": len(silver), "read_gold": result["xcom"].get("read_gold")}

    def spark_lookup(self) -> dict[str, Any]:
        """Without a Spark the lookup says what to install; with SPARK_HOME elsewhere the Delta
        coordinate follows that Spark (no delta-spark wheel here to read a version from)."""
        code = (
            "import json\n"
            "from airflow_fanout.spark_install import SparkNotFoundError\n"
            "from airflow_fanout.delta_packages import delta_maven_coordinate\n"
            "try:\n    found = delta_maven_coordinate()\nexcept SparkNotFoundError as exc:\n    found = str(exc)\n"
            "print(json.dumps(found))"
        )
        missing: str = self.python(code)
        if "pyspark-client" not in missing or "airflow-fanout[spark]" not in missing:
            raise CellFailure(f"{self.cell.name}: without a Spark: {missing!r}")
        elsewhere: str = self.python(code, env=self.env(SPARK_HOME=repo_spark_home()))
        if not elsewhere.startswith("io.delta:delta-spark_4.2_2.13:"):
            raise CellFailure(f"{self.cell.name}: with SPARK_HOME: {elsewhere!r}")
        return {"without_spark": missing[:90], "with_spark_home": elsewhere}

    def dag_without_spark(self) -> dict[str, Any]:
        """The DAG on the Airflow side alone: the task fails before anything runs, saying why."""
        result, log = self.dag_test("no-spark")
        if result["tasks"].get("write_day") != "failed" or "install `airflow-fanout[spark]`" not in log:
            raise CellFailure(f"{self.cell.name}: without a Spark: {result['tasks']}\n{log[-2000:]}")
        hint = next(line for line in log.splitlines() if "install `airflow-fanout[spark]`" in line)
        return {"write_day": "failed", "says": hint.strip()[:160]}

    def spark_extra(self) -> dict[str, Any]:
        client = self.distributions("pyspark-client")["pyspark-client"]
        pins = [f"pyspark=={client}"] if client else []
        # openlineage and graph too: the unit tests cover those extras' features
        extras = f"{self.wheel}[spark,openlineage,graph]"
        self.pip("install", "-q", extras, f"apache-airflow=={self.cell.airflow}", *pins)
        return self.distributions("pyspark", "pyspark-client", "delta-spark")

    def unit_tests(self) -> dict[str, Any]:
        src = self.root / "src"
        shutil.rmtree(src, ignore_errors=True)
        for folder in ("tests", "benchmarks"):
            shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "constraints"))
        (src / "pytest.ini").write_text(
            "[pytest]\naddopts = -q -p no:cacheprovider\nmarkers =\n    slow: e2e\n    spark: local SparkSession\n"
            "filterwarnings = ignore::DeprecationWarning\n",
            encoding="utf-8",
        )
        self.pip("install", "-q", "pytest", "pytest-timeout", "pyyaml", "psutil")
        jars = self.env(FANOUT_DELTA_JARS_DIR=str(ROOT / ".ivy" / "jars"))
        out = self.run(str(self.bin / "python"), "-m", "pytest", "tests/unit", env=jars, cwd=src)
        summary = out.strip().splitlines()[-1]
        if " passed" not in summary or "failed" in summary or "error" in summary:
            raise CellFailure(f"{self.cell.name}: unit tests: {summary}")
        return {"summary": summary}


def run_cell(
    cell: Cell, root: Path, wheel: Path, *, spark: bool, plain_install: bool = True, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """All the steps of ``cell`` (``plain_install``: with ``wheel_after_airflow``); returns what
    each measured (raises ``CellFailure``)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    run = CellRun(cell, root, wheel, say)
    repo_jars = str(ROOT / ".ivy" / "jars")
    run.step("airflow_side", run.airflow_side)
    if plain_install:
        run.step("wheel_after_airflow", run.wheel_after_airflow)
    run.step("imports", lambda: run.imports(with_driver=False))
    run.step("provider_and_cli", run.provider_and_cli)
    run.step("spark_lookup", run.spark_lookup)
    run.step("dag_without_spark", run.dag_without_spark)
    elsewhere = {"SPARK_HOME": repo_spark_home(), "FANOUT_DELTA_JARS_DIR": repo_jars}
    run.step("dag_remote_spark", lambda: run.dag_run("remote", **elsewhere))
    if spark:
        installed = run.step("spark_extra", run.spark_extra)
        run.step("imports_all", lambda: run.imports(with_driver=True))
        run.step("unit_tests", run.unit_tests)
        spark_42 = str(installed.get("pyspark") or "").startswith("4.2.")
        jars = {"FANOUT_DELTA_JARS_DIR": repo_jars} if spark_42 else {
            "FANOUT_DELTA_JARS_DIR": "", "FANOUT_IVY_DIR": str(root.parent / "ivy")}  # fmt: skip
        run.step("dag_local_spark", lambda: run.dag_run("local", **jars))
    return {
        "cell": cell.name,
        "python": cell.python,
        "airflow": cell.airflow,
        "steps": {s.name: {"seconds": s.seconds, **s.detail} for s in run.steps},
    }
