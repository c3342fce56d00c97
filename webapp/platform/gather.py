"""Many small SELECTs read as one statement (issue 14: at most six statements a page,
however much data): each SELECT becomes a scalar subquery that aggregates its rows into
one JSON array (PostgreSQL ``json_agg``, SQLite ``json_group_array``), so the database
answers a single row, and the values are turned back into what the columns' types give.

    rows = gather({"codes": (select(PhoneCode.phone, PhoneCode.created_at)
                             .where(PhoneCode.user_id == user.id), ("created_at",))})
    rows["codes"]  # [{"phone": "+44...", "created_at": datetime(...)}, ...]

Each part names the keys its rows are sorted by ("-key": descending): a JSON aggregate
keeps no order on SQLite, so the rows are put in order here. Limit a part inside its
SELECT. Use it where a page reads many unrelated lists, each small (what one person
holds): every row travels as JSON.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, String, func, literal, literal_column, select

from webapp.extensions import db


def _aggregate(dialect: str, sub):
    pairs = []
    for column in sub.c:
        pairs += [literal(column.key, String), column]
    if dialect == "postgresql":
        return func.coalesce(func.json_agg(func.json_build_object(*pairs)),
                             literal_column("'[]'::json"))
    return func.json_group_array(func.json_object(*pairs))


def _decoder(column, dialect):
    kind = column.type
    if isinstance(kind, DateTime):
        return datetime.fromisoformat
    if isinstance(kind, Date):
        return date.fromisoformat
    if isinstance(kind, JSON):
        return lambda value: json.loads(value) if isinstance(value, str) else value
    return kind.result_processor(dialect, None)  # booleans on SQLite, type decorators


def gather(parts: Mapping[str, tuple]) -> dict[str, list[dict]]:
    """``{name: (select, order keys)}`` → ``{name: [row dict, ...]}``, in one statement."""
    if not parts:
        return {}
    dialect = db.session.get_bind().dialect
    subqueries = {name: stmt.subquery() for name, (stmt, _) in parts.items()}
    columns = [select(_aggregate(dialect.name, sub)).select_from(sub).scalar_subquery()
               .label(f"part_{i}") for i, sub in enumerate(subqueries.values())]
    values = db.session.execute(select(*columns)).one()
    found = {}
    for (name, (_, order)), sub, value in zip(parts.items(), subqueries.values(), values, strict=True):
        rows = json.loads(value) if isinstance(value, str) else (value or [])
        decoders = {column.key: _decoder(column, dialect) for column in sub.c}
        for row in rows:
            for key, decode in decoders.items():
                if decode is not None and row.get(key) is not None:
                    row[key] = decode(row[key])
        for key in reversed(order):  # stable sorts, the last key first
            column = key.lstrip("-")
            rows.sort(key=lambda row: (row[column] is None, row[column]),
                      reverse=key.startswith("-"))
        found[name] = rows
    return found
