"""The start page, the privacy notice and the health checks."""
from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user
from webapp.core import bp
from webapp.core.health import readiness
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
    """Alive: 200 whenever the process answers (the database is ``/readyz``'s business).
    Never from a cache: it is about this process, now."""
    response = jsonify(status="ok")
    response.cache_control.no_store = True
    return response


@bp.get("/readyz")
def readyz():
    """Ready: 200 when the database answers, its schema is at head and the outbox keeps up;
    503 with the failing checks' reasons otherwise (see ``webapp/core/health.py``)."""
    result = readiness()
    body = {"status": "ok" if result.ready else "not ready", **result.checks,
            "outbox_lag_seconds": result.outbox_lag_seconds}
    response = jsonify(body)
    response.status_code = 200 if result.ready else 503
    response.cache_control.no_store = True
    return response
