"""Settings of the web app: one class of defaults, overridden by ``RUSTSEG_*`` environment
variables (``RUSTSEG_STORE_DIR=/data/store`` sets ``STORE_DIR``; values are parsed as JSON
when they can be, so ``RUSTSEG_MAX_UPLOAD_MB=8`` is a number, and yes/no words for the
on/off settings). gunicorn's start-up check uses the same parsing (:func:`production_error`)."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

from flask import Config as FlaskConfig

from rustseg_core.inspection.assess import InspectionConfig
from rustseg_core.inspection.grades import parse_cutoffs
from rustseg_core.pipeline.imageio import DEFAULT_MAX_PIXELS
from rustseg_core.store import DEFAULT_STORE_DIR

ENV_PREFIX = "RUSTSEG"
# Only for development: production refuses to start with it (see ``finalise``).
DEV_SECRET_KEY = "rustseg-dev-only-not-secret"
# Shorter keys are refused in production (secrets.token_hex(16) has 32 characters).
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_HELP = ("RUSTSEG_SECRET_KEY must be set in production, at least "
                   f"{MIN_SECRET_KEY_LENGTH} characters (e.g. python3 -c 'import secrets; "
                   "print(secrets.token_hex(32))')")
TRUE_WORDS = ("1", "true", "yes", "on", "y")
FALSE_WORDS = ("", "0", "false", "no", "off", "n")


class Config:
    """Defaults. Every upper-case attribute can be overridden by ``RUSTSEG_<NAME>``."""

    # True in the Docker image: a missing SECRET_KEY is then an error, not a dev fallback.
    PRODUCTION = False
    SECRET_KEY: str | None = None
    # Model folder; None → the core's default ($RUSTSEG_MODEL, else models/default).
    MODEL: str | None = None
    # What runs the network: "auto" (ONNX Runtime when the model folder has a model.onnx,
    # else TensorFlow), "onnx" or "tensorflow"; see benchmarks/onnx_runtime.py. The paper's
    # modes use ONNX Runtime too where the export carries Grad-CAM++'s inputs (Segmenter.cam_runtime).
    RUNTIME = "auto"
    # Opt-in store folder; "" disables keeping photos (the consent box is then hidden).
    # Relative paths are relative to the server's working directory.
    STORE_DIR: str = DEFAULT_STORE_DIR
    # A PostgreSQL URL (postgresql://user:password@host:5432/db) puts the store in that
    # database instead, shared by every server given the same URL; "" keeps the folder.
    DATABASE_URL: str = ""
    MAX_UPLOAD_MB = 20
    # Largest survey request: several photos posted at once without the script, or the
    # API's answers (thumbnails included) sent back by the survey page's script.
    SURVEY_MAX_MB = 60
    # Severity cut-offs: the largest area % rusted that is still good, fair and poor.
    SEVERITY_CUTOFFS = "0.3,3,16"
    # Largest photo in pixels (width × height), checked from the header before decoding:
    # a 30000×30000 PNG of a few KB is refused with 413 without costing 2.7 GB of RAM.
    MAX_PIXELS = DEFAULT_MAX_PIXELS
    # Whole-request limit = photo limit + room for the other form fields and multipart framing.
    REQUEST_OVERHEAD_BYTES = 256 * 1024
    # A TF segmenter object for tests (skips loading MODEL); never set from the environment.
    SEGMENTER: Any = None
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 4 * 3600  # a site inspection can leave a form open for a while
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set RUSTSEG_SESSION_COOKIE_SECURE=true behind HTTPS


# Settings that are on or off: "1", "true", "yes", "on" and "0", "false", "no", "off", "".
BOOLEAN_SETTINGS = ("PRODUCTION", "WTF_CSRF_ENABLED", "SESSION_COOKIE_HTTPONLY",
                    "SESSION_COOKIE_SECURE", "TESTING", "DEBUG")


def parse_bool(value: Any, name: str = "value") -> bool:
    """An on/off setting from the environment or an override; anything else is an error
    (a typo must not silently mean "off")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise RuntimeError(f"RUSTSEG_{name} must be true or false (1/0, yes/no, on/off), not {value!r}")


def production_error(production: Any, secret_key: str | None) -> str | None:
    """Why these settings may not run in production, or ``None`` if they may. The key signs
    the CSRF tokens: a missing, published or short one makes them forgeable."""
    if not parse_bool(production, "PRODUCTION"):
        return None
    if not secret_key or secret_key == DEV_SECRET_KEY or len(str(secret_key)) < MIN_SECRET_KEY_LENGTH:
        return SECRET_KEY_HELP
    return None


def production_error_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """:func:`production_error` for ``RUSTSEG_PRODUCTION`` / ``RUSTSEG_SECRET_KEY`` (gunicorn's
    master checks this before it starts any worker)."""
    env = os.environ if environ is None else environ
    return production_error(env.get(f"{ENV_PREFIX}_PRODUCTION", ""), env.get(f"{ENV_PREFIX}_SECRET_KEY"))


def load_config(app_config: FlaskConfig, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> None:
    """Fill a Flask ``app.config``: class defaults, then ``RUSTSEG_*`` env vars, then
    ``overrides`` (tests), then derived values."""
    app_config.from_object(Config)
    env = os.environ if environ is None else environ
    _from_prefixed_env(app_config, env)
    if overrides:
        app_config.update(overrides)
    finalise(app_config)


def _from_prefixed_env(app_config: FlaskConfig, env: Mapping[str, str]) -> None:
    prefix = ENV_PREFIX + "_"
    for key, value in env.items():
        name = key[len(prefix):]
        # Only known settings: RUSTSEG_REQUIRE_BROWSER and friends belong to other tools.
        if not key.startswith(prefix) or not hasattr(Config, name) or name == "SEGMENTER":
            continue
        try:
            app_config[name] = json.loads(value)
        except ValueError:
            app_config[name] = value


def finalise(app_config: FlaskConfig) -> None:
    """Derived settings and the production secret-key rule."""
    upload = int(float(app_config["MAX_UPLOAD_MB"]) * 1024 * 1024)
    app_config["MAX_UPLOAD_BYTES"] = upload
    app_config["MAX_CONTENT_LENGTH"] = upload + int(app_config["REQUEST_OVERHEAD_BYTES"])
    app_config["MAX_PIXELS"] = int(app_config["MAX_PIXELS"])
    app_config["SURVEY_MAX_BYTES"] = int(float(app_config["SURVEY_MAX_MB"]) * 1024 * 1024)
    try:
        app_config["INSPECTION"] = InspectionConfig(severity=parse_cutoffs(app_config["SEVERITY_CUTOFFS"]))
    except ValueError as e:
        raise RuntimeError(f"RUSTSEG_SEVERITY_CUTOFFS: {e}") from None
    if app_config["RUNTIME"] not in ("auto", "tensorflow", "onnx"):
        raise RuntimeError(f"RUSTSEG_RUNTIME must be auto, tensorflow or onnx, not {app_config['RUNTIME']!r}")
    for name in BOOLEAN_SETTINGS:
        if name in app_config:
            app_config[name] = parse_bool(app_config[name], name)
    error = production_error(app_config["PRODUCTION"], app_config.get("SECRET_KEY"))
    if error:
        raise RuntimeError(error)
    if not app_config.get("SECRET_KEY"):
        app_config["SECRET_KEY"] = DEV_SECRET_KEY
