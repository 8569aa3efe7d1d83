"""Setting up the region and reading its settings."""

from __future__ import annotations

import re
import zoneinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.ledger.models import Account, AccountKind
from mutualcredit.money import DECIMALS_MAX
from mutualcredit.region.models import Region

COMMONS_ACCOUNT_CODE = "commons"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def get_region(session: Session) -> Region:
    """The region's settings; an error if the region was never set up."""
    region = session.scalar(select(Region))
    if region is None:
        raise errors.RegionNotConfigured()
    return region


def init_region(
    session: Session,
    *,
    slug: str,
    name: str,
    unit_code: str,
    unit_name: str,
    unit_symbol: str,
    decimals: int,
    default_locale: str = "en",
    time_zone: str = "UTC",
    commons_floor: int | None = None,
    actor: str,
) -> Region:
    """Create the region's settings and its commons account (once)."""
    if not SLUG_PATTERN.match(slug):
        raise errors.InvalidInput("the region id must be lower-case letters, digits and dashes")
    if not 0 <= decimals <= DECIMALS_MAX:
        raise errors.InvalidInput(f"a unit has 0 to {DECIMALS_MAX} decimals")
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise errors.InvalidInput(f"unknown time zone {time_zone!r}") from None
    if session.scalar(select(Region)) is not None:
        session.rollback()
        raise errors.AlreadyExists("the region is already set up")
    region = Region(
        slug=slug,
        name=name,
        unit_code=unit_code,
        unit_name=unit_name,
        unit_symbol=unit_symbol,
        decimals=decimals,
        default_locale=default_locale,
        time_zone=time_zone,
    )
    session.add(region)
    # The commons absorbs write-offs of departing members; its floor is a
    # policy choice of the assembly (None: unbounded).
    session.add(
        Account(
            code=COMMONS_ACCOUNT_CODE,
            name=f"{name} commons",
            kind=AccountKind.COMMONS,
            floor=commons_floor,
        )
    )
    record_activity(session, actor=actor, action="region.init", subject=slug, details={"unit": unit_code})
    session.commit()
    return region
