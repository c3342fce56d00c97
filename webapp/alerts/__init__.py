"""The alerts domain."""
from flask import Blueprint

bp = Blueprint("alerts", __name__)


from webapp.alerts import routes  # noqa: E402,F401  (registers the views on bp)
