"""The driver's zip (``--py-files``) is all a cluster's driver gets of this package: every driver
module must import from it alone (found a missing ``storage.py`` once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_fanout._packaging import PACKAGE_ROOT, driver_zip

CHECK = """
import importlib, pkgutil, sys
import airflow_fanout.driver as driver
assert airflow_fanout_zip in driver.__file__, driver.__file__
for module in pkgutil.iter_modules(driver.__path__):
    loaded = importlib.import_module(f"airflow_fanout.driver.{module.name}")
    assert airflow_fanout_zip in loaded.__file__, loaded.__file__
assert "airflow" not in sys.modules, "the driver imported airflow"
print(len(list(pkgutil.iter_modules(driver.__path__))))
"""


def test_every_driver_module_imports_from_the_zip_alone(tmp_path: Path) -> None:
    shipped = driver_zip(str(tmp_path))
    # -S: no site processing, so the editable install's finder (a .pth file) cannot serve a module
    # the zip lacks; site-packages itself stays on the path for pyspark and delta.
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    done = subprocess.run(
        [sys.executable, "-S", "-c", f"airflow_fanout_zip = {shipped!r}\n{CHECK}"],
        env={"PYTHONPATH": f"{shipped}:{site_packages}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = [p for p in (PACKAGE_ROOT / "driver").glob("*.py") if p.name != "__init__.py"]
    assert int(done.stdout.split()[-1]) == len(modules)
