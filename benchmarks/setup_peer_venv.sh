#!/usr/bin/env bash
# Create benchmarks/.venv-peer, a virtualenv of its own for the "peer" baseline
# (python-accounting 2.x). python-accounting declares mysqlclient and psycopg2
# (built from source) as dependencies; neither is needed to talk to PostgreSQL
# through psycopg2-binary, so it is installed with --no-deps and the packages it
# really imports are listed by hand. Kept apart from the project's .venv so
# that nothing here changes the project's own dependencies.
#
# Usage: bash benchmarks/setup_peer_venv.sh [python executable, default python3]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peer"
python="${1:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet --no-deps \
    'python-accounting>=2,<3' \
    psycopg2-binary \
    'sqlalchemy>=2.1.4,<2.2' \
    'python-dateutil>=2.9.0.post0,<3' \
    six \
    typing-extensions
# (the ranges are python-accounting's own; six is imported by
# dateutil.relativedelta, typing-extensions by SQLAlchemy: found by trying.)
# Fails here, not in the middle of a benchmark, if an import is missing.
"$venv/bin/python" -c 'import python_accounting.models, python_accounting.transactions, python_accounting.database.session, psycopg2; from importlib.metadata import version; print("python-accounting", version("python-accounting"), "ready in", __import__("sys").prefix)'
