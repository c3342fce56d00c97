"""Views of the admin domain."""
from webapp.admin import bp  # noqa: F401
