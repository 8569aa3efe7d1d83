"""Checks on every API request before its view runs, for what no schema can say.

PostgreSQL cannot store the NUL character (U+0000) in text, and refuses a
query that merely compares text with one; SQLite stores it. So that both
answer the same, and with a 400 rather than a database error, a NUL
anywhere in the path, the query string or a JSON body is refused up front.
"""

from __future__ import annotations

from typing import Any

from flask import request

from mutualcredit import errors

NUL = "\x00"


class NulCharacter(errors.InvalidInput):
    """Text with a NUL character (U+0000), which the ledger cannot store."""

    code = "nul_character"


def _contains_nul(document: Any) -> bool:
    """Whether any string (key or value) in a decoded JSON document contains NUL; iterative, so depth is no limit."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_nul_characters() -> None:
    """Refuse (400 ``nul_character``) a request with a NUL in its path, query or JSON body."""
    in_query = any(NUL in key or any(NUL in value for value in request.args.getlist(key)) for key in request.args)
    if NUL in request.path or in_query:
        raise NulCharacter("the path or the query contains a NUL character (U+0000)")
    # A NUL in JSON text is written \u0000 (a raw one is not JSON): most bodies need no decoding here.
    body = request.get_data(cache=True)
    if b"\\u0000" not in body and NUL.encode() not in body:
        return
    if request.is_json and _contains_nul(request.get_json(silent=True)):
        raise NulCharacter("the JSON body contains a NUL character (U+0000)")
