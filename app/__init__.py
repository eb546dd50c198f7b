"""RustSEG web layer: pages, JSON API and the opt-in store, on top of ``rustseg_core``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from .config import load_config
from .services import start_services
from .uploads import InMemoryRequest

ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


def _web_files(name: str) -> str:
    """``templates`` or ``static``: inside the installed package (``pip install .`` puts them
    there), else the checkout's top-level folder."""
    installed = Path(__file__).resolve().parent / name
    return str(installed if installed.is_dir() else ROOT / name)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Application factory. ``overrides`` beat ``RUSTSEG_*`` env vars (tests pass e.g.
    ``{"SEGMENTER": seg, "STORE_DIR": tmp}`` to skip loading ``models/default``)."""
    app = Flask(__name__, template_folder=_web_files("templates"),
                static_folder=_web_files("static"))
    app.request_class = InMemoryRequest
    load_config(app.config, overrides)
    app.json.sort_keys = False  # keep the core's summary order in API answers
    if not app.debug and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from . import api, errors, field, security, surveys, views

    csrf.init_app(app)
    csrf.exempt(api.api)  # API clients send no cookies, so there is nothing to forge
    csrf.exempt(field.api_field)
    app.register_blueprint(views.web)
    app.register_blueprint(field.field)
    app.register_blueprint(field.api_field)
    app.register_blueprint(surveys.surveys)
    app.register_blueprint(api.api)
    app.register_blueprint(api.health)
    errors.register(app)
    security.install(app)
    views.register_template_helpers(app)
    start_services(app)
    return app
