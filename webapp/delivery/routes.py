"""Views of the delivery domain."""
from webapp.delivery import bp  # noqa: F401
