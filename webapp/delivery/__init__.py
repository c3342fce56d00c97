"""The delivery domain: the outbox, workers, push, email, digests and scheduler ticks.

Other domains call ``notify(user, Event(...))`` inside their transaction; see
:mod:`webapp.delivery.services`.
"""
from flask import Blueprint

bp = Blueprint("delivery", __name__)

from webapp.delivery.services import Event, notify  # noqa: E402,F401


@bp.record_once
def _setup(state):
    from webapp.accounts.phone import set_code_sender
    from webapp.delivery.notify_client import send_code
    from webapp.delivery.services import register_account_hooks
    register_account_hooks()
    set_code_sender(send_code)


from webapp.delivery import routes  # noqa: E402,F401  (registers the views on bp)
from webapp.delivery import notify_callbacks  # noqa: E402,F401  (GOV.UK Notify's callbacks)
