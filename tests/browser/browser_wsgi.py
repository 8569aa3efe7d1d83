"""The web app as the browser tests serve it: ``gunicorn --pythonpath tests/browser browser_wsgi:app``.

The settings come from the environment, as in production, with one change:
the tests log in more often than the login limit lets one address do in a
minute (the limit itself is tested in ``tests/http/test_auth_pages.py``).
"""

from webapp import create_app

app = create_app({"LOGIN_RATE_LIMIT": "1000 per minute"})
