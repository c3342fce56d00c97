"""Views of the alerts domain."""
from webapp.alerts import bp  # noqa: F401
