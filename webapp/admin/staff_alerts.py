"""Telling a staff member that their account is being guessed (the sign-in throttle in
``webapp.accounts.throttle`` decides and sends :data:`sign_in_guessed`; the outbox is a
layer above accounts, so the email is queued here, in the same transaction)."""
from __future__ import annotations

from webapp.accounts.throttle import sign_in_guessed
from webapp.delivery import Event, notify
from webapp.platform.timeutil import format_london


@sign_in_guessed.connect
def tell_staff_member(user, *, count: int, now, audit_event_id: int) -> None:
    notify(user, Event(
        kind="security", source_type="staff_login_alert", source_id=audit_event_id,
        title="Someone is trying to sign in to your Wardline account",
        body=(f"{count} sign-in attempts on your account failed in the hour to "
              f"{format_london(now, '%H:%M')}. If this was not you, tell an administrator."),
        url="/officer/login", urgent=True,
        email_template="accounts/login_alert",
        email_context={"count": count, "when": format_london(now, "%d %B %Y %H:%M"),
                       "name": user.display_name}))
