"""The incidents domain: updates on sent alerts through to their outcome, following,
replies to alerts, and conversation tags (appeal information, "needs reporting")."""
from flask import Blueprint

bp = Blueprint("incidents", __name__)


@bp.record_once
def _setup(state):
    from webapp.incidents.services import register_account_hooks
    register_account_hooks()


from webapp.incidents import routes  # noqa: E402,F401  (registers the views on bp)
