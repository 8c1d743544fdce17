"""docker/ checked as far as a machine without a Docker engine allows: the compose files parse
(the default stack, and the S3 variant: ``compose.s3.yaml`` merged over it by Compose's rules),
every service has an image or an existing build context, every mounted host path and named
volume exists, the Dockerfile's inputs exist; the S3 variant's server, bucket, environment and
Spark defaults agree with one another. ``docker compose config`` runs where available."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from airflow_fanout.examples.medallion import backfill_dag_spec, medallion_stream_spec
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.storage import (
    ConnectionFields,
    object_path,
    reader_options,
    reader_options_from_spark,
    spark_confs,
)

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_S3 = DOCKER / "compose.s3.yaml"
STACKS = {"default": [COMPOSE], "s3": [COMPOSE, COMPOSE_S3]}
AIRFLOW = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
)
S3A_KEYS = tuple(
    f"spark.hadoop.fs.s3a.{key}"
    for key in ("endpoint", "access.key", "secret.key", "path.style.access", "connection.ssl.enabled")
)


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def _unique_key(entry: Any) -> Any:
    """A volume's target (short syntax ``source:target[:mode]``, or long syntax), a port as is."""
    if isinstance(entry, dict):
        return entry.get("target", json.dumps(entry, sort_keys=True))
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _normalized(service: dict[str, Any]) -> dict[str, Any]:
    """``depends_on`` as a mapping, as Compose reads a list of names before merging."""
    depends = service.get("depends_on")
    if isinstance(depends, list):
        return {**service, "depends_on": {name: {"condition": "service_started"} for name in depends}}
    return service


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge of an override file over a base (compose-spec, "Merge and override"):
    mappings merge entry by entry; ``command``, ``entrypoint`` and healthcheck ``test`` are
    replaced; ``volumes`` and ``ports`` replace the base's entry of the same target; other
    sequences append."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for name, value in override.items():
            out[name] = merge(base[name], value, name) if name in base else value
        return out
    if isinstance(base, list) and isinstance(override, list) and key not in ("command", "entrypoint", "test"):
        if key in ("volumes", "ports"):
            replaced = {_unique_key(entry) for entry in override}
            return [entry for entry in base if _unique_key(entry) not in replaced] + override
        return base + override
    return override


def stack(name: str) -> dict[str, Any]:
    """The application model of ``name`` (``default`` or ``s3``): its compose files merged."""
    doc: dict[str, Any] = {}
    for path in STACKS[name]:
        layer = {k: v for k, v in load(path).items() if not k.startswith("x-")}
        layer["services"] = {service: _normalized(body) for service, body in layer.get("services", {}).items()}
        doc = merge(doc, layer)
    return doc


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's short-syntax mounts: container path -> host path (or volume name)."""
    return {m.split(":")[1]: m.split(":")[0] for m in service.get("volumes", [])}


def spark_defaults() -> dict[str, str]:
    """``s3/spark-conf/spark-defaults.conf``: one ``key value`` per line (comments, blanks aside)."""
    out: dict[str, str] = {}
    for number, line in enumerate((DOCKER / "s3" / "spark-conf" / "spark-defaults.conf").read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = re.fullmatch(r"(spark\.[\w.\-]+)\s+(\S(?:.*\S)?)\s*", line)
        assert found is not None, f"line {number} is not `key value`: {line!r}"
        assert found.group(1) not in out, f"line {number}: {found.group(1)} twice"
        out[found.group(1)] = found.group(2)
    return out


def lake_connection(env: dict[str, str]) -> ConnectionFields:
    """``AIRFLOW_CONN_LAKE_S3`` read as Airflow reads a JSON connection from the environment."""
    from airflow.sdk import Connection

    return ConnectionFields.from_connection(Connection.from_json(env["AIRFLOW_CONN_LAKE_S3"], conn_id="lake_s3"))


@pytest.mark.parametrize("variant", list(STACKS))
def test_services_build_contexts_mounts_and_volumes_exist(variant: str) -> None:
    doc = stack(variant)
    services = doc["services"]
    assert {
        "postgres",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "spark-master",
        "spark-worker",
    } <= set(services)
    named_volumes = set(doc.get("volumes", {}))
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context.is_dir(), name
            assert (context / service["build"]["dockerfile"]).is_file(), name
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):  # relative to docker/, the first compose file's folder
                assert (DOCKER / source).exists(), f"{name}: {source}"
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    env = services["airflow-scheduler"]["environment"]
    assert "spark-master" in env["AIRFLOW_CONN_SPARK_DEFAULT"]
    assert "spark-master:7077" in " ".join(services["spark-worker"]["entrypoint"])


def test_s3_variant_is_opt_in() -> None:
    """The default stack has no S3 server and keeps its local lake; the override file adds both."""
    default, s3 = stack("default")["services"], stack("s3")["services"]
    assert "seaweedfs" not in default and "s3-init" not in default
    assert default["airflow-scheduler"]["environment"]["FANOUT_LAKE"] == "/lake"
    assert {"seaweedfs", "s3-init"} <= set(s3)
    assert s3["spark-worker"] == default["spark-worker"]  # executors get S3A confs and jars from the driver


def test_s3_server_is_pinned_and_healthchecked() -> None:
    server = stack("s3")["services"]["seaweedfs"]
    image, _, tag = server["image"].partition(":")
    assert image == "chrislusf/seaweedfs"
    assert re.fullmatch(r"\d+\.\d+", tag), f"pin a release tag, not {tag!r}"
    command = server["command"]
    assert command[0] == "server" and "-s3" in command and "-s3.port=8333" in command
    config = next(arg.split("=", 1)[1] for arg in command if arg.startswith("-s3.config="))
    assert (DOCKER / mounts(server)[config]).resolve() == (DOCKER / "s3" / "s3.json").resolve()
    assert mounts(server)["/data"] == "s3-data"  # the objects outlive the container
    test = server["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and ":8333/" in " ".join(test)
    assert "8333:8333" in server["ports"]


def test_bucket_is_made_before_airflow_starts() -> None:
    services = stack("s3")["services"]
    init = services["s3-init"]
    assert init["image"] == services["seaweedfs"]["image"]
    assert init["depends_on"]["seaweedfs"]["condition"] == "service_healthy"
    script = " ".join(init.get("entrypoint", [])) + " " + " ".join(init.get("command", []))
    lake = object_path(services["airflow-scheduler"]["environment"]["FANOUT_LAKE"])
    assert lake is not None
    assert re.search(rf"-X POST http://seaweedfs:8888/buckets/{lake.bucket}/", script), script
    assert init.get("restart", "no") == "no"
    default = stack("default")["services"]
    for name in AIRFLOW:
        assert services[name]["depends_on"]["s3-init"]["condition"] == "service_completed_successfully", name
        assert set(default[name]["depends_on"]) < set(services[name]["depends_on"]), name  # added, not replaced


def test_airflow_services_get_the_s3_lake_and_aws_env() -> None:
    services = stack("s3")["services"]
    port = next(int(arg.split("=")[1]) for arg in services["seaweedfs"]["command"] if arg.startswith("-s3.port="))
    for name in AIRFLOW:
        env = services[name]["environment"]
        assert env["FANOUT_LAKE"].startswith("s3a://"), name
        assert set(AWS_ENV) <= set(env), f"{name}: missing {set(AWS_ENV) - set(env)}"
        endpoint = urlparse(env["AWS_ENDPOINT_URL"])
        assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "seaweedfs", port), name
        assert env["AWS_ALLOW_HTTP"] == "true" and env["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] == "false"
        # spark-submit reads $SPARK_CONF_DIR/spark-defaults.conf: the mounted folder of ours
        conf_dir = DOCKER / mounts(services[name])[env["SPARK_CONF_DIR"]]
        assert (conf_dir / "spark-defaults.conf").resolve() == (DOCKER / "s3/spark-conf/spark-defaults.conf").resolve()
        assert (DOCKER / mounts(services[name])["/opt/fanout/land_events.py"]).is_file()
        assert (
            env["AIRFLOW_CONN_SPARK_DEFAULT"]
            == stack("default")["services"][name]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"]
        )
        assert lake_connection(env).conn_type == "aws"
    # the example DAGs' specs, built from that lake, are all in the bucket s3-init makes
    lake = services["airflow-scheduler"]["environment"]["FANOUT_LAKE"]
    for doc in (medallion_stream_spec(lake), backfill_dag_spec(lake)):
        spec = FanOutSpec.from_dict(doc)
        assert spec.uses_s3
        for path in spec.storage_paths:
            where = object_path(path)
            assert where is not None and where.bucket == "lake", path


def test_spark_defaults_carry_the_connections_s3a_confs() -> None:
    """spark-defaults.conf parses as ``key value`` lines and gives Spark exactly what
    ``storage_conn_id="lake_s3"`` would; the driver's run lock (reader options from Spark's confs),
    the sensor (the AWS_* variables, as obstore names them) and the connection reach the same store."""
    defaults = spark_defaults()
    assert set(S3A_KEYS) <= set(defaults)
    assert defaults["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert defaults["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    env = stack("s3")["services"]["airflow-scheduler"]["environment"]
    conn = lake_connection(env)
    assert defaults == spark_confs(conn)
    from_env = {
        ("aws_endpoint" if k == "AWS_ENDPOINT_URL" else k.lower()): str(v) for k, v in env.items() if k in AWS_ENV
    }
    assert reader_options_from_spark(defaults) == reader_options(conn) == from_env


def test_credentials_agree() -> None:
    """The S3 server's one identity is the key pair Spark, the AWS_* variables and the Airflow
    connection use (demo values, all of them)."""
    identities = json.loads((DOCKER / "s3" / "s3.json").read_text())["identities"]
    assert len(identities) == 1
    (identity,) = identities
    assert {"Read", "Write", "List"} <= set(identity["actions"])
    keys = {(c["accessKey"], c["secretKey"]) for c in identity["credentials"]}
    defaults = spark_defaults()
    spark = (defaults["spark.hadoop.fs.s3a.access.key"], defaults["spark.hadoop.fs.s3a.secret.key"])
    services = stack("s3")["services"]
    for name in AIRFLOW:
        env = services[name]["environment"]
        conn = lake_connection(env)
        assert {spark, (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]), (conn.login, conn.password)} == keys


def s3_module(name: str) -> Any:
    """``docker/s3/<name>.py`` imported as a module."""
    found = importlib.util.spec_from_file_location(f"docker_s3_{name}", DOCKER / "s3" / f"{name}.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_land_events_needs_an_object_store_lake() -> None:
    """The landing script of the S3 variant imports, and refuses a local lake (no S3 call)."""
    assert s3_module("land_events").main(["--lake", "/tmp/a-local-lake"]) == 2


def test_policy_runs_fan_out_tasks_on_s3_one_at_a_time() -> None:
    """The S3 variant's cluster policy (mounted where Airflow imports airflow_local_settings, in
    every Airflow service, the dag-processor included) gives the backfill's write task
    max_active_tis_per_dag=1, so two dates never commit to one table at once; a local lake's
    task keeps its parallelism."""
    from airflow_fanout.operators.fanout import FanOutBackfillOperator

    services = stack("s3")["services"]
    for name in AIRFLOW:
        source = mounts(services[name])["/opt/airflow/config/airflow_local_settings.py"]
        assert (DOCKER / source).resolve() == (DOCKER / "s3" / "airflow_local_settings.py").resolve(), name
    policy = s3_module("airflow_local_settings")
    lake = services["airflow-scheduler"]["environment"]["FANOUT_LAKE"]
    on_s3 = FanOutBackfillOperator(task_id="write_day", spec=backfill_dag_spec(lake))
    local = FanOutBackfillOperator(task_id="write_day", spec=backfill_dag_spec("/lake"))
    policy.task_policy(on_s3)
    policy.task_policy(local)
    assert on_s3.max_active_tis_per_dag == 1
    assert local.max_active_tis_per_dag is None


def test_dockerfile_inputs_exist_and_jars_are_fetched_at_build() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    root = DOCKER.parent
    for line in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, flags=re.M):
        for source in line.split()[:-1]:
            assert (root / source).exists(), source
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, flags=re.M)
    assert "openjdk-17" in text
    assert "airflow-fanout fetch-jars" in text
    pinned = re.search(r"^apache-airflow==(\S+)$", (root / "constraints.txt").read_text(), flags=re.M)
    assert pinned is not None
    assert f"ARG AIRFLOW_VERSION={pinned.group(1)}" in text  # the base image matches the pinned Airflow
    # an ARG before FROM is out of scope after it: each one the steps use is declared again
    stages = text.split("\nFROM ", 1)
    for name in set(re.findall(r"\$\{(\w+)\}", stages[1])) & set(re.findall(r"^ARG (\w+)", stages[0], flags=re.M)):
        assert re.search(rf"^ARG {name}$", stages[1], flags=re.M), f"{name} is empty after FROM"
    # every pip install names the image's Airflow (Airflow's rule for extending its image), and
    # the Spark side comes with the [spark] extra at the pyspark-client's version
    installs = re.findall(r"pip install [^&]*", text)
    assert installs and all('"apache-airflow==${AIRFLOW_VERSION}"' in line for line in installs)
    assert any("/opt/airflow-fanout[spark]" in line and '"pyspark==${CLIENT}"' in line for line in installs)


def test_s3a_jars_are_resolved_at_build_and_found_at_run() -> None:
    """fetch-jars resolves S3A's jars into <ivy>/s3a/jars (not --delta-only), and the image points
    FANOUT_S3A_JARS_DIR there: an s3a:// run downloads nothing."""
    text = (DOCKER / "Dockerfile").read_text()
    fetch = re.search(r"^RUN airflow-fanout fetch-jars (.*)$", text, flags=re.M)
    assert fetch is not None and "--delta-only" not in fetch.group(1)
    ivy = re.search(r"--ivy\s+(\S+)", fetch.group(1))
    assert ivy is not None
    envs = dict(re.findall(r"^ENV (\w+)=(\S+)$", text, flags=re.M))
    assert envs["FANOUT_DELTA_JARS_DIR"] == f"{ivy.group(1)}/jars"
    assert envs["FANOUT_S3A_JARS_DIR"] == f"{ivy.group(1)}/s3a/jars"


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no docker compose CLI on this machine",
)
@pytest.mark.parametrize("variant", list(STACKS))
def test_docker_compose_config(variant: str) -> None:
    files = [arg for path in STACKS[variant] for arg in ("-f", str(path))]
    done = subprocess.run(["docker", "compose", *files, "config", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
