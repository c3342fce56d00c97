"""The admin domain."""
from flask import Blueprint

bp = Blueprint("admin", __name__)


from webapp.admin import routes  # noqa: E402,F401  (registers the views on bp)
from webapp.admin import deliveries  # noqa: E402,F401  (dead deliveries; delivery domain)
from webapp.admin import outbox  # noqa: E402,F401  (the outbox in words)
from webapp.admin import staff_alerts  # noqa: E402,F401  (connects its signal receiver)
