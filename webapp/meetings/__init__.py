"""The meetings domain."""
from flask import Blueprint

bp = Blueprint("meetings", __name__)

from webapp.meetings import officer_routes, routes  # noqa: E402,F401  (register the views on bp)
