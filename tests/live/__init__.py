"""Tests over real HTTP: gunicorn with several workers on a fresh PostgreSQL database.

A package (this file) so that its ``conftest.py`` is imported as
``live.conftest`` and does not take the name ``conftest`` from the shared
``tests/conftest.py``, which other folders import by that name.
"""
