"""Issue 14, item 1: the built wheel works on its own, as the production install makes it.

Builds the sdist and from it the wheel (``uv build``), installs the wheel into a clean virtual
environment the way README.md's production install does (the hashed ``.ci/requirements.lock``,
then the wheel with ``--no-deps``), and runs ``migrate`` and ``seed_demo`` from it on a
temporary SQLite database, in a directory outside the checkout: the wheel must carry the demo
data, templates and static files, and runtime files (``var/``) must land in the working
directory, never in site-packages. Needs the package index (or its cache) for the locked
dependencies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / ".ci" / "requirements.lock"
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """A clean venv with the locked runtime dependencies and the freshly built wheel; its python."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    if UV:  # sdist first, then the wheel from it: the release path, no stale build/ dir
        _run([UV, "build", "--quiet", "--out-dir", str(dist), str(ROOT)])
    else:
        _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("cc_rules-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    if UV:
        install = [UV, "pip", "install", "--quiet", "--python", str(python)]
    else:
        install = [str(python), "-m", "pip", "install", "-q"]
    _run([*install, "--require-hashes", "-r", str(LOCK)])
    _run([*install, "--no-deps", str(wheel)])
    return python


def _clean_env(**extra: str) -> dict[str, str]:
    dropped = ("DATABASE_URL", "REDIS_URL", "CC_VAR_DIR", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="cc_rules.settings", **extra)
    return env


def test_the_wheel_seeds_the_demo_from_site_packages_with_var_in_the_working_dir(
    installed_wheel, tmp_path
):
    work = tmp_path / "work"
    work.mkdir()
    env = _clean_env(DEBUG="on", DATABASE_URL=f"sqlite:///{tmp_path / 'wheel.sqlite3'}")
    django = [str(installed_wheel), "-m", "django"]
    _run([*django, "migrate", "--verbosity", "0"], cwd=work, env=env)
    seeded = _run([*django, "seed_demo"], cwd=work, env=env)
    assert "Demo users created" in seeded.stdout

    where = _run(
        [str(installed_wheel), "-c", _WHERE],
        cwd=work,
        env=env,
    )
    facts = json.loads(where.stdout.strip().splitlines()[-1])
    site_packages = Path(facts["site_packages"])
    # The installed package, not this checkout, ran; its data came from site-packages.
    assert Path(facts["package"]).is_relative_to(site_packages)
    assert Path(facts["fixture"]).is_relative_to(site_packages)
    assert facts["users"] >= 9
    assert facts["roles"] >= 1
    # Runtime files go to ./var of the working directory.
    assert Path(facts["var_dir"]) == work.resolve() / "var"
    assert (work / "var" / "dev-secret-key").is_file()
    assert not (site_packages / "var").exists()


def test_the_wheel_collects_its_static_files_for_production(installed_wheel, tmp_path):
    """Admin CSS, the dashboards' Chart.js and Swagger UI (sidecar) are all in the install."""
    env = _clean_env(
        DEBUG="off",
        SECRET_KEY="x" * 60,
        CC_HISTORY_KEY="k" * 48,
        CC_VAR_DIR=str(tmp_path / "var"),
    )
    _run(
        [str(installed_wheel), "-m", "django", "collectstatic", "--noinput", "-v", "0"],
        cwd=tmp_path,
        env=env,
    )
    manifest = json.loads((tmp_path / "var" / "static" / "staticfiles.json").read_text())
    for name in (
        "admin/css/base.css",
        "cc_admin/vendor/chartjs/chart.umd.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js",
    ):
        assert name in manifest["paths"], name


_WHERE = """
import json, sysconfig, django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
import cc_rules
from cc_rules.management.commands import seed_demo
from cc_rules.models import Role
print(json.dumps({
    "site_packages": sysconfig.get_paths()["purelib"],
    "package": cc_rules.__file__,
    "fixture": str(seed_demo.FIXTURE),
    "var_dir": str(settings.VAR_DIR),
    "users": get_user_model().objects.count(),
    "roles": Role.objects.count(),
}))
"""
