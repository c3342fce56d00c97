"""CSV for spreadsheets, safe against formula injection (OWASP "CSV Injection").

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets; a resident chooses their own name and
email address, so every cell of every export goes through :func:`safe_cell`.
"""
from __future__ import annotations

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """``value`` as text a spreadsheet shows as text: a leading formula character gets a
    ``'`` before it (the OWASP recommendation; the value is otherwise kept)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: list[str], rows) -> str:
    """A CSV document (every field quoted, every cell through :func:`safe_cell`)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
