"""Reading an uploaded CSV file: at most ``CSV_BYTES_MAX`` bytes of UTF-8 text, a byte-order mark dropped.

Shared by every page that takes a CSV upload and previews it before
anything is recorded (invoices, bulk payments).
"""

from __future__ import annotations

from typing import IO

from flask_babel import lazy_gettext as _l

CSV_BYTES_MAX = 2_000_000
UNREADABLE_MESSAGE = _l("The file must be UTF-8 text of at most 2 MB.")


def read_csv_upload(file: IO[bytes], bytes_max: int = CSV_BYTES_MAX) -> str | None:
    """The uploaded file's text, or None when it is larger than ``bytes_max`` or not UTF-8."""
    raw = file.read(bytes_max + 1)
    if len(raw) > bytes_max:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeError:
        return None
