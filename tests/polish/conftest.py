"""Fixtures shared with other domains' tests."""
from tests.meetings.conftest import make_meeting  # noqa: F401
