"""Time: store UTC (naive datetimes in the database are UTC), show Europe/London."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime (what every column stores)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_london(value: datetime | None) -> datetime | None:
    """Convert a stored (naive UTC or aware) datetime to Europe/London."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LONDON)


def london_to_utc(value: datetime) -> datetime:
    """Interpret a naive wall-clock time as Europe/London and return naive UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def format_london(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """Format a stored datetime for people in London (Jinja filter ``london``)."""
    local = to_london(value)
    return local.strftime(fmt) if local else ""


def html_datetime(value: datetime | None) -> str:
    """A stored (naive UTC or aware) datetime as an HTML ``datetime`` attribute value:
    whole seconds in UTC with ``Z`` (HTML allows at most three digits of a fraction, and
    the seconds are all a reader needs). Jinja filter ``html_datetime``."""
    if value is None:
        return ""
    if not isinstance(value, datetime):  # a calendar date (an action's day): YYYY-MM-DD
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_age(value: datetime | None, now: datetime | None = None) -> str:
    """Say how long ago ``value`` was, briefly ("5 min", "3 h", "2 days")."""
    if value is None:
        return ""
    seconds = int(((now or utcnow()) - value.replace(tzinfo=None)).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    days = seconds // 86400
    return f"{days} day" if days == 1 else f"{days} days"
