"""Views of the pwa domain."""
from webapp.pwa import bp  # noqa: F401
