"""The start page, the privacy notice and the health check."""
from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text

from webapp.core import bp
from webapp.extensions import db
from webapp.platform.security import officer_required


@bp.get("/")
def index():
    """Send signed-in residents to their ward (or the survey); explain the service to visitors."""
    if current_user.is_authenticated:
        if current_user.is_resident:
            ward = current_user.home_ward
            if ward is None or current_user.survey_completed_at is None:
                return redirect(url_for("accounts.survey"))
            return redirect(url_for("wards.ward_home", code=ward.code))
        return redirect(url_for("threads.inbox"))
    return render_template("core/index.html")


@bp.get("/staff")
@officer_required
def staff_home():
    """Landing page for officers and admins."""
    return render_template("core/staff_home.html")


@bp.get("/privacy")
def privacy():
    """The plain-language privacy notice."""
    return render_template("core/privacy.html")


@bp.get("/healthz")
def healthz():
    """Return 200 with the database status, or 503 when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return jsonify(status="ok", database="ok"), 200
    except Exception as exc:  # any driver error means the database is unavailable
        db.session.rollback()
        return jsonify(status="error", database="unavailable", error=type(exc).__name__), 503
