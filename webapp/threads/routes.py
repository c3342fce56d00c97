"""Views of the threads domain."""
from webapp.threads import bp  # noqa: F401
