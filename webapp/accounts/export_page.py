"""Issue 13: "Download my data" also as a page a person can read (the same data as the JSON
file, from ``services.export_user_data``)."""
from __future__ import annotations

from flask import make_response, render_template
from flask_login import current_user

from webapp.accounts import bp, services
from webapp.platform.security import resident_required


def label(key) -> str:
    """A JSON key as a heading: "survey_completed_at" → "Survey completed at"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@bp.get("/settings/export/page")
@resident_required
def export_page():
    """Everything we hold about me, as a readable page (the file is /settings/export)."""
    data = services.export_user_data(current_user)
    response = make_response(render_template("accounts/export_page.html", data=data,
                                             label=label))
    response.headers["Cache-Control"] = "no-store"
    return response
