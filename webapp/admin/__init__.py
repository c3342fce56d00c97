"""The admin domain."""
from flask import Blueprint

bp = Blueprint("admin", __name__)


@bp.record_once
def _setup(state):
    from webapp.accounts.services import register_account_data
    from webapp.admin.audit import export_audit_events
    register_account_data(export=export_audit_events)


from webapp.admin import routes  # noqa: E402,F401  (registers the views on bp)
from webapp.admin import deliveries  # noqa: E402,F401  (dead deliveries; delivery domain)
