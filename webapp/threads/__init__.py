"""The threads domain."""
from flask import Blueprint

bp = Blueprint("threads", __name__)

from webapp.threads import officer_routes, routes  # noqa: E402,F401  (register the views on bp)
