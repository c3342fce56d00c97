"""Admin: dead deliveries (the outbox gave up) with their errors, and retrying them; the
"outbox is stuck" banner on staff pages.

Lives in its own file (the delivery domain's admin page); imported by
``webapp/admin/__init__.py``.
"""
from __future__ import annotations

import logging

from flask import abort, flash, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy import func, select, update

from webapp.admin import bp
from webapp.platform.audit import record
from webapp.delivery.models import Delivery, Notification
from webapp.extensions import db
from webapp.platform.params import page_arg
from webapp.platform.security import admin_required
from webapp.platform.timeutil import utcnow
from webapp.accounts.models import User
from webapp.delivery.health import outbox_health

PAGE_SIZE = 50
# Notifications whose text comes from a conversation (a subject, a reply): admins reading
# the outbox see only their kind, not their words (conversations need the explicit,
# audited "view as admin" step).
PRIVATE_KINDS = {"reply": "Reply from the ward team", "officer_digest": "Officers' digest"}
STAFF_PATHS = ("/admin", "/officer")

log = logging.getLogger("wardline.admin")


def dead_deliveries(limit: int = PAGE_SIZE, offset: int = 0):
    """Dead deliveries, newest first, with their notification and resident."""
    stmt = (select(Delivery, Notification, User)
            .join(Notification, Notification.id == Delivery.notification_id)
            .join(User, User.id == Delivery.user_id)
            .where(Delivery.state == "dead")
            .order_by(Delivery.id.desc()).limit(limit).offset(offset))
    return db.session.execute(stmt).all()


def retry_deliveries(actor, ids=None) -> int:
    """Put dead deliveries back in the queue (all of them when ``ids`` is None): attempts
    start again from zero. Audit-logged; commits; returns how many."""
    stmt = update(Delivery).where(Delivery.state == "dead")
    if ids is not None:
        stmt = stmt.where(Delivery.id.in_(ids))
    count = db.session.execute(stmt.values(state="queued", attempts=0, next_attempt_at=utcnow(),
                                           claimed_by=None, lease_until=None)
                               .execution_options(synchronize_session=False)).rowcount
    record(actor, "delivery.retry", None,
           f"{count} dead deliveries" + (f": {sorted(ids)[:20]}" if ids else " (all)"))
    db.session.commit()
    return count


@bp.get("/admin/deliveries")
@admin_required
def deliveries():
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.state == "dead"))
    return render_template("admin/deliveries.html", rows=dead_deliveries(offset=(page - 1) * PAGE_SIZE),
                           total=total, page=page, page_size=PAGE_SIZE,
                           private_kinds=PRIVATE_KINDS)


@bp.post("/admin/deliveries/<int:delivery_id>/retry")
@admin_required
def retry_delivery(delivery_id: int):
    if not retry_deliveries(current_user, [delivery_id]):
        abort(404)
    flash("The delivery will be tried again.", "success")
    return redirect(url_for("admin.deliveries"), 303)


@bp.post("/admin/deliveries/retry-all")
@admin_required
def retry_all_deliveries():
    count = retry_deliveries(current_user)
    flash(f"{count} deliveries will be tried again.", "success")
    return redirect(url_for("admin.deliveries"), 303)


def _is_admin() -> bool:
    return current_user.is_authenticated and current_user.role == "admin" \
        and current_user.is_fully_authenticated


@bp.app_context_processor
def _outbox_banner():
    """``outbox_status()`` for ``base.html``: the outbox's health for an admin on a staff
    page, else None. A function, so only full pages (not fragments or emails) query."""
    def outbox_status():
        if not has_request_context() or not request.path.startswith(STAFF_PATHS) \
                or not _is_admin():
            return None
        try:
            return outbox_health()
        except SQLAlchemyError:  # never let the banner break a page (or the error page)
            log.exception("checking the outbox failed")
            db.session.rollback()
            return None
    return {"outbox_status": outbox_status}


@bp.get("/admin/outbox-status")
@admin_required
def outbox_status():
    """The banner alone (htmx refreshes it every minute)."""
    response = render_template("admin/_outbox_status.html", health=outbox_health())
    return response, 200, {"Cache-Control": "no-store"}
