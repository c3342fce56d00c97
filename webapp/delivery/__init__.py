"""The delivery domain."""
from flask import Blueprint

bp = Blueprint("delivery", __name__)

from webapp.delivery import routes  # noqa: E402,F401  (registers the views on bp)
