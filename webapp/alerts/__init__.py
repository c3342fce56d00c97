"""The alerts domain."""
from flask import Blueprint

bp = Blueprint("alerts", __name__)


@bp.record_once
def _setup(state):
    from webapp.alerts.services import register_account_hooks
    register_account_hooks()


from webapp.alerts import routes  # noqa: E402,F401  (registers the views on bp)
