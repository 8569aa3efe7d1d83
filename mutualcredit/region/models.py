"""The region's settings row."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now
from mutualcredit.money import Unit


class Region(Base):
    """This instance's region: who it is and what unit it counts in."""

    __tablename__ = "region"
    __table_args__ = (
        CheckConstraint("decimals BETWEEN 0 AND 4", name="decimals_range"),
        CheckConstraint("singleton = 1", name="one_row"),
    )

    singleton: Mapped[int] = mapped_column(primary_key=True, default=1)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_code: Mapped[str] = mapped_column(String(12))
    unit_name: Mapped[str] = mapped_column(String(100))
    unit_symbol: Mapped[str] = mapped_column(String(12))
    decimals: Mapped[int]
    default_locale: Mapped[str] = mapped_column(String(16), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)

    @property
    def unit(self) -> Unit:
        return Unit(self.unit_code, self.unit_name, self.unit_symbol, self.decimals)
