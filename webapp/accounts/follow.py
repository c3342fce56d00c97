"""Follow a ward from its home page (issue 13): "Follow this ward" / "Stop following", within
the rule of the home ward and at most ``MAX_EXTRA_WARDS`` more. Plain forms (303 back to the
ward), and htmx swaps the panel in place."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from webapp.accounts import bp, services
from webapp.extensions import db
from webapp.platform.forms import EmptyForm
from webapp.platform.htmx import is_htmx, render
from webapp.platform.security import resident_required
from webapp.platform.taxonomy import MAX_EXTRA_WARDS
from webapp.wards.services import get_ward


def follow_context(ward) -> dict:
    """What the follow panel of ``ward``'s home page needs (for the signed-in resident)."""
    user = current_user
    home = user.home_ward
    extras = user.ward_list[1:] if home else user.ward_list
    return {"ward": ward, "home": home, "extras": extras, "max_extra": MAX_EXTRA_WARDS,
            "follows": any(w.id == ward.id for w in extras),
            "room": MAX_EXTRA_WARDS - len(extras), "follow_form": EmptyForm()}


@bp.app_context_processor
def _follow_panel():
    """Templates (the ward home, a lower layer) get the panel's data by calling this."""
    return {"follow_context": follow_context}


def _answer(ward, *, error: str | None = None, message: str | None = None):
    if is_htmx():
        return render("accounts/_follow_ward.html", status=422 if error else 200,
                      follow_error=error, follow_message=message, fc=follow_context(ward))
    flash(error or message, "error" if error else "success")
    return redirect(url_for("wards.ward_home", code=ward.code), 303)


def _ward_or_404(code: str):
    ward = get_ward(code)
    if ward is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return ward


@bp.post("/wards/<code>/follow")
@resident_required
def follow_ward(code: str):
    """Follow this ward as well as my own (at most two more)."""
    ward = _ward_or_404(code)
    try:
        services.add_extra_ward(current_user, ward)
    except services.AnswerError as exc:
        db.session.rollback()
        return _answer(ward, error=exc.message)
    db.session.commit()
    return _answer(ward, message=f"You now follow {ward.name}: its alerts, posts and meetings "
                                 "come to you as your updates settings say.")


@bp.post("/wards/<code>/unfollow")
@resident_required
def unfollow_ward(code: str):
    """Stop following this ward (not my home ward: that one is changed in Settings)."""
    ward = _ward_or_404(code)
    services.remove_extra_ward(current_user, ward.code)
    db.session.commit()
    return _answer(ward, message=f"You no longer follow {ward.name}.")
