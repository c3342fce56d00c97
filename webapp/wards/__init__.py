"""The wards domain."""
from flask import Blueprint

bp = Blueprint("wards", __name__)

from webapp.wards import routes  # noqa: E402,F401  (registers the views on bp)
