"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each gunicorn worker imports this after the fork (``preload_app = False``), so TensorFlow and
the model are loaded once per worker, never in the master.
"""
from app import create_app

app = create_app()
