"""WSGI entry point for gunicorn: ``gunicorn 'webapp.wsgi:app'``."""

import gc

from webapp import create_app

app = create_app()
gc.freeze()
