"""The review step before an alert goes (issue 13): the message as the email, as the
notification and (when anyone in the audience gets texts) as the text message will look, who
it reaches, and when; "Send" posts the same fields again with
``action=send``, "Change something" with ``action=edit``. Works without JavaScript."""
from __future__ import annotations

from flask import abort, current_app, request

from webapp.alerts import services
from webapp.delivery.notify_client import sms_personalisation, sms_text
from webapp.delivery.push import build_payload
from webapp.platform.htmx import render
from webapp.platform.taxonomy import CATEGORIES
from webapp.platform.timeutil import london_to_utc

import json


def review_page(form, alert, preview: dict, resolve):
    """Render the review of a valid compose ``form`` (``resolve(form)`` → Target)."""
    try:
        target = resolve(form)
    except services.NotAllowed:
        abort(403)
    except services.AlertError as exc:
        return render("alerts/compose.html", None, status=422, form=form, alert=alert,
                      preview=preview, error=str(exc))
    push = json.loads(build_payload(form.title.data, form.body.data, "/", None))
    send_at = None
    if form.when.data == "later" and form.send_at.data:
        send_at = london_to_utc(form.send_at.data)
    fields = [(name, value) for name, value in request.form.items(multi=True)
              if name not in ("action", "csrf_token")]
    return render("alerts/review.html", None, form=form, alert=alert, preview=preview,
                  target=target, fields=fields, send_at=send_at,
                  category=CATEGORIES.get(form.category.data, ""),
                  body_html=services.render_body(form.body.data), push=push,
                  sms=_text_preview(form, preview))


def _text_preview(form, preview: dict) -> str | None:
    """The text message as the worker will build it (title, first line, link), when anyone
    in the audience gets this alert by text; the alert's link is not known yet."""
    counts = preview.get("counts")
    if counts is None or not counts.sms:
        return None
    return sms_text(sms_personalisation(form.title.data, form.body.data, "/alerts/…",
                                        current_app.config["BASE_URL"]))
