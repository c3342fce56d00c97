"""Fixtures shared with other domains' tests."""
from tests.meetings.conftest import make_meeting  # noqa: F401
from tests.threads.conftest import reply, start_conversation  # noqa: F401
from tests.accounts.test_officer_login import enrolled, officer  # noqa: F401
