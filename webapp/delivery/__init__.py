"""The delivery domain: the outbox, workers, push, email, digests and scheduler ticks.

The outbox has one public API, used by every other domain inside its own transaction:
``notify(user, Event(...))`` for one person, ``fan_out(Event(...), audience)`` for a
set-based audience (a SQL select of user ids); see :mod:`webapp.delivery.services`.
"""
from flask import Blueprint

bp = Blueprint("delivery", __name__)

# Before services: its account-deletion hook counts a resident's deliveries before the
# delivery domain's own hook deletes the notifications only they received.
from webapp.delivery import retention  # noqa: E402,F401
from webapp.delivery.services import Event, fan_out, notify  # noqa: E402,F401  (public)
from webapp.delivery import routes  # noqa: E402,F401  (registers the views on bp)
from webapp.delivery import notify_callbacks  # noqa: E402,F401  (GOV.UK Notify's callbacks)
from webapp.delivery import metrics  # noqa: E402,F401  (the outbox's scrape-time figures)
