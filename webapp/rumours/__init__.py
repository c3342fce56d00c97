"""The rumours domain: "Heard something?" rumour checks, answered in public."""
from flask import Blueprint

bp = Blueprint("rumours", __name__)


from webapp.rumours import services  # noqa: E402,F401  (registers its account data)
from webapp.rumours import routes  # noqa: E402,F401  (registers the views on bp)
