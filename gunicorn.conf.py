"""gunicorn settings for a checkout: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The settings live in the package (``app/gunicorn_conf.py``) so that an installed RustSEG
(``pip install .``) serves with the same ones: ``gunicorn -c python:app.gunicorn_conf
'app:create_app()'``. They are executed afresh here (not imported from a cache), so every
read of this file sees the environment of that moment.
"""
import runpy

globals().update({k: v for k, v in runpy.run_module("app.gunicorn_conf").items()
                  if not k.startswith("__")})
