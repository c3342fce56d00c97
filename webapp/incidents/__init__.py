"""The incidents domain: updates on sent alerts through to their outcome, following,
replies to alerts, and conversation tags (appeal information, "needs reporting")."""
from flask import Blueprint

bp = Blueprint("incidents", __name__)


from webapp.incidents import services  # noqa: E402,F401  (registers its account data)
from webapp.incidents import routes  # noqa: E402,F401  (registers the views on bp)
