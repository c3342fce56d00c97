"""The rumours domain: "Heard something?" rumour checks, answered in public."""
from flask import Blueprint

bp = Blueprint("rumours", __name__)


@bp.record_once
def _setup(state):
    from webapp.rumours.services import register_account_hooks
    register_account_hooks()


from webapp.rumours import routes  # noqa: E402,F401  (registers the views on bp)
