"""`pip install .` (not editable) gives a working `rustseg` command and web app: templates,
static files and the shipped model travel inside the packages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

CHECK = """
import os, runpy, sys
import app as app_package
import rustseg_core
from app import create_app
for module in (app_package, rustseg_core):  # the installed copies, not the checkout's
    assert module.__file__.startswith(os.environ["PYTHONPATH"]), module.__file__
app = create_app({"STORE_DIR": ""})
c = app.test_client()
assert c.get("/").status_code == 200, "home page"
assert c.get("/survey").status_code == 200, "survey page (rustseg_core.inspection installed)"
assert c.get("/static/css/site.css").status_code == 200, "static files"
health = c.get("/healthz").get_json()
assert health["model_loaded"] and health["model_version"] == os.environ["EXPECTED_VERSION"], health
from rustseg_core.store import Store, migrate
assert migrate.MIGRATIONS_DIR.is_relative_to(os.environ["PYTHONPATH"]), migrate.MIGRATIONS_DIR
import tempfile
assert Store(tempfile.mkdtemp()).upgrade() == migrate.head_revision() != None, "packaged migrations"
conf = runpy.run_module("app.gunicorn_conf")
assert conf["preload_app"] is False and conf["bind"]
print("ok", rustseg_core.__version__)
"""


def test_plain_pip_install_serves_pages_and_finds_the_shipped_model(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                            "--no-build-isolation", "--target", str(target), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert (target / "rustseg_core" / "models" / "default" / "model.keras").is_file()
    assert (target / "app" / "templates" / "result.html").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTSEG_")}
    env["PYTHONPATH"] = str(target)
    shipped = json.loads((ROOT / "models" / "default" / "rustseg.json").read_text())
    env["EXPECTED_VERSION"] = shipped["info"]["version"]
    # The exported models too: every mode runs on them (RUSTSEG_RUNTIME=auto), phones download
    # the half-size copy: every file a shipped rustseg.json lists is installed.
    assert (target / "rustseg_core" / "models" / "default" / "model.onnx").is_file()
    for name in ("default", "classifier"):
        listed = json.loads((ROOT / "models" / name / "rustseg.json").read_text())["info"].get("onnx", {})
        for file in listed.get("files", {}):
            assert (target / "rustseg_core" / "models" / name / file).is_file(), (name, file)
    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing can come from ROOT
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-2000:]
    assert str(ROOT) not in out.stdout
    cli = subprocess.run([sys.executable, "-m", "rustseg_core", "--version"], cwd=elsewhere,
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.startswith("rustseg ")


def test_docker_build_context_has_every_packaged_model():
    """The image's wheel is built from the Docker build context: a model folder that
    pyproject.toml packages but .dockerignore leaves out fails the build."""
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    models = [p.rsplit(".", 1)[1] for p in packages if p.startswith("rustseg_core.models.")]
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert models and "models/*" in ignore
    assert [m for m in models if f"!models/{m}/" not in ignore] == []
