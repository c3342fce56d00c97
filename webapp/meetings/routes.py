"""Views of the meetings domain."""
from webapp.meetings import bp  # noqa: F401
