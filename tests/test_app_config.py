"""Application factory, configuration from the environment, and the gunicorn settings."""
from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.config import DEV_SECRET_KEY
from tests.app_support import photo_bytes

ROOT = Path(__file__).resolve().parent.parent


def test_env_overrides_with_prefix(monkeypatch, tiny_segmenter, tmp_path):
    monkeypatch.setenv("RUSTSEG_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("RUSTSEG_STORE_DIR", str(tmp_path / "kept"))
    monkeypatch.setenv("RUSTSEG_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("RUSTSEG_REQUIRE_BROWSER", "1")  # another tool's variable: ignored
    app = create_app({"SEGMENTER": tiny_segmenter})
    assert app.config["MAX_UPLOAD_BYTES"] == 2 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["MAX_UPLOAD_BYTES"]
    assert app.config["STORE_DIR"] == str(tmp_path / "kept")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert "REQUIRE_BROWSER" not in app.config
    assert not (tmp_path / "kept").exists()  # the store is only created by a kept photo


def test_overrides_beat_the_environment(monkeypatch, tiny_segmenter):
    monkeypatch.setenv("RUSTSEG_MAX_UPLOAD_MB", "2")
    app = create_app({"SEGMENTER": tiny_segmenter, "MAX_UPLOAD_MB": 5, "STORE_DIR": ""})
    assert app.config["MAX_UPLOAD_BYTES"] == 5 * 1024 * 1024


def test_secret_key_rules(monkeypatch, tiny_segmenter):
    monkeypatch.delenv("RUSTSEG_SECRET_KEY", raising=False)
    monkeypatch.delenv("RUSTSEG_PRODUCTION", raising=False)
    assert create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": ""}).config["SECRET_KEY"] == DEV_SECRET_KEY
    with pytest.raises(RuntimeError, match="RUSTSEG_SECRET_KEY"):
        create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": "", "PRODUCTION": True})
    monkeypatch.setenv("RUSTSEG_PRODUCTION", "1")
    for weak in (DEV_SECRET_KEY, "short-key"):  # published, or too short to resist guessing
        monkeypatch.setenv("RUSTSEG_SECRET_KEY", weak)
        with pytest.raises(RuntimeError, match="at least 32 characters"):
            create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": ""})
    monkeypatch.setenv("RUSTSEG_SECRET_KEY", "from-env-" + "k" * 32)
    assert create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": ""}).config["SECRET_KEY"] == \
        "from-env-" + "k" * 32


def test_model_is_loaded_once_per_app_not_per_request(monkeypatch, tiny_model_dir, tmp_path):
    from rustseg_core.pipeline.segmenter import Segmenter

    calls = []
    real = Segmenter.load.__func__

    def counting(cls, *a, **k):
        calls.append(a)
        return real(cls, *a, **k)

    monkeypatch.setattr(Segmenter, "load", classmethod(counting))
    app = create_app({"MODEL": str(tiny_model_dir), "STORE_DIR": "", "WTF_CSRF_ENABLED": False})
    assert calls == [(str(tiny_model_dir),)]
    client = app.test_client()
    for _ in range(2):
        resp = client.post("/api/v1/segment", data={"image": (io.BytesIO(photo_bytes()), "p.jpg")},
                           content_type="multipart/form-data")
        assert resp.status_code == 200
    assert len(calls) == 1
    assert client.get("/healthz").get_json()["model_version"] == "tiny-test"


def test_gunicorn_config_is_safe_for_tensorflow(monkeypatch):
    # The config file sets variables for the workers; keep them out of this test process.
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUSTSEG_BIND", "RUSTSEG_WORKERS", "RUSTSEG_TIMEOUT", "RUSTSEG_SECRET_KEY")}
    env["RUSTSEG_THREADS"] = "3"
    monkeypatch.setattr(os, "environ", env)
    cfg = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert cfg["bind"] == "0.0.0.0:8000"
    assert cfg["preload_app"] is False  # TF is imported in each worker, after the fork
    assert cfg["workers"] == 2 and cfg["threads"] == 3 and cfg["worker_class"] == "gthread"
    assert cfg["timeout"] >= 90 and cfg["graceful_timeout"] >= 30
    assert cfg["max_requests"] > 0 and cfg["max_requests_jitter"] > 0
    assert len(os.environ["RUSTSEG_SECRET_KEY"]) == 64  # shared by the workers



def test_gunicorn_config_imports_no_tensorflow():
    """The master forks the workers: it must not have started TensorFlow (nor built the app)."""
    code = ("import runpy, sys; runpy.run_path('gunicorn.conf.py'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
            "assert 'app.views' not in sys.modules; print('ok')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTSEG_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("production, key, refused", [
    ("yes", None, True), ("on", "k" * 64, False), ("true", DEV_SECRET_KEY, True),
    ("no", None, False), ("off", None, False), ("", None, False), ("maybe", "k" * 64, True)])
def test_gunicorn_production_check_is_the_apps(monkeypatch, production, key, refused):
    """gunicorn's master refuses what the app would refuse, parsing RUSTSEG_PRODUCTION alike
    (it used to treat "yes" and "on" differently from the app)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTSEG_")}
    env["RUSTSEG_PRODUCTION"] = production
    if key:
        env["RUSTSEG_SECRET_KEY"] = key
    monkeypatch.setattr(os, "environ", env)
    if refused:
        with pytest.raises(SystemExit, match="RUSTSEG_"):
            runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    else:
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_wsgi_module_builds_the_app(monkeypatch, tiny_model_dir, tmp_path):
    monkeypatch.setenv("RUSTSEG_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("RUSTSEG_STORE_DIR", str(tmp_path / "store"))
    ns = runpy.run_path(str(ROOT / "wsgi.py"))
    assert ns["app"].test_client().get("/healthz").status_code == 200
