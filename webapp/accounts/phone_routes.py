"""Views of the text-message settings: add a mobile number, confirm it with the code we
text, choose the categories that come by text, remove it. Each form answers htmx with the
``#phone-section`` fragment and a plain browser with the ``/settings/phone`` page (303
after a change, 422 with the message next to the field after a mistake)."""
from __future__ import annotations

import logging

from flask import current_app, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from webapp.accounts import bp, phone
from webapp.accounts.phone_forms import CodeForm, PhoneForm, SmsCategoriesForm
from webapp.extensions import db
from webapp.platform.forms import EmptyForm
from webapp.platform.htmx import is_htmx, render, render_fragment
from webapp.platform.security import resident_required

log = logging.getLogger("wardline.accounts")


def _context(**extra) -> dict:
    user = current_user
    number, pending, categories = phone.phone_state(user)
    ctx = {"user": user, "number": number, "pending": pending,
           "display_number": phone.display_number,
           "phone_form": PhoneForm(formdata=None),
           "code_form": CodeForm(formdata=None),
           "categories_form": SmsCategoriesForm(
               formdata=None, data={"sms_categories": sorted(categories)}),
           "remove_form": EmptyForm(formdata=None), "message": None, "error": None}
    ctx.update(extra)
    return ctx


def _answer(*, status: int = 200, message: str | None = None, **extra):
    """The fragment for htmx; else the page (mistakes, 422) or a redirect to it (done)."""
    if is_htmx():
        return render_fragment("accounts/_phone.html", status=status,
                               **_context(message=message, **extra))
    if status < 400:
        if message:
            flash(message, "success")
        return redirect(url_for("accounts.phone_settings"), 303)
    return make_response(render_template("accounts/phone.html", **_context(**extra)), status)


@bp.get("/settings/phone")
@resident_required
def phone_settings():
    """Text messages: the number, its confirmation, and which updates come by text."""
    return render("accounts/phone.html", "accounts/_phone.html", **_context())


@bp.post("/settings/phone")
@resident_required
def phone_add():
    """Text a six-digit code to the number typed (the number is not kept until confirmed)."""
    form = PhoneForm()
    if not form.validate():
        return _answer(status=422, phone_form=form)
    user = current_user._get_current_object()
    try:
        row, code = phone.start_confirmation(user, form.phone.data)
    except phone.PhoneError as exc:
        db.session.rollback()
        form.phone.errors = [exc.message]
        return _answer(status=422, phone_form=form)
    number = row.phone
    db.session.commit()
    try:
        phone.send_code(number, code)
    except Exception as exc:  # Notify refused the number, or could not be reached
        final = getattr(exc, "final", False)
        log.warning("Could not text a confirmation code: %s", exc)
        form.phone.errors = [
            "We could not send a text to that number. Check it is a UK mobile that can "
            "receive texts." if final else
            "We could not send the text just now. Please try again in a few minutes."]
        # 503 when Notify could not be reached; htmx swaps only 2xx and 422 (base.html).
        return _answer(status=422 if final or is_htmx() else 503, phone_form=form)
    return _answer(message=f"We have texted a {phone.CODE_LENGTH}-digit code to "
                           f"{phone.display_number(number)}. It works for "
                           f"{current_app.config['SMS_CODE_MINUTES']} minutes.")


@bp.post("/settings/phone/confirm")
@resident_required
def phone_confirm():
    form = CodeForm()
    if not form.validate():
        return _answer(status=422, code_form=form)
    user = current_user._get_current_object()
    try:
        number = phone.confirm_code(user, form.code.data)
    except phone.PhoneError as exc:
        db.session.commit()  # the wrong try counts
        form.code.errors = [exc.message]
        return _answer(status=422, code_form=form)
    db.session.commit()
    return _answer(message=f"Thank you: {phone.display_number(number.phone)} is confirmed. "
                           "Urgent alerts will come by text.")


@bp.post("/settings/phone/categories")
@resident_required
def phone_categories():
    form = SmsCategoriesForm()
    if not form.validate():
        return _answer(status=422, categories_form=form)
    user = current_user._get_current_object()
    if phone.number_for(user) is None:
        return _answer(status=422, error="Add and confirm a mobile number first.")
    phone.set_sms_categories(user, form.sms_categories.data or [])
    db.session.commit()
    return _answer(message="Saved.")


@bp.post("/settings/phone/remove")
@resident_required
def phone_remove():
    form = EmptyForm()
    if not form.validate():
        return _answer(status=422, error="The form expired. Please send it again.")
    phone.remove_number(current_user._get_current_object())
    db.session.commit()
    return _answer(message="Your mobile number is removed. We will not send you texts.")


@bp.app_context_processor
def _phone_helpers():
    """``phone_context()`` for the settings section (called only when used)."""
    return {"phone_context": _context}
