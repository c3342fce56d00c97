"""Where personal data lives, and how an account's deletion leaves nothing that identifies
the person.

:data:`COLUMNS` classifies every column that can hold personal data: every text or JSON
column and every reference to ``users``, of every table (``tests/accounts/test_personal_data.py``
fails when a new table or column is not listed, so it must join export and deletion):

- ``RESIDENT``: about a resident: in "Download my data" and removed (or anonymised) when
  they delete their account;
- ``MENTIONS``: free text written by staff or the app that may name a resident (a
  notification, an audit reason, a ward post): on deletion every occurrence of the
  resident's identifying strings (name, address, subjects, message and concern text,
  reasons, devices) is replaced by ``[deleted]`` (:func:`redact_mentions`);
- ``KEPT``: kept after deletion on purpose, not identifying the person (anonymous counts,
  the keyed hash of a blocked address);
- ``STAFF``: about officers and admins (their accounts are managed by admins);
- ``NOT_PERSONAL``: codes, public announcements, reference data.

:func:`erase_traces` runs first in :func:`webapp.accounts.services.delete_account`, while
the resident's conversations, messages and devices still exist to say what to look for
(each domain's hooks, :mod:`webapp.platform.account_data`).
"""
from __future__ import annotations

import json
import re

from sqlalchemy import JSON, String, Text, cast, func, literal, or_, select, update

from webapp.accounts.models import Concern
from webapp.extensions import db
from webapp.platform.account_data import ERASERS, IDENTIFIERS
from webapp.platform.audit import blank_details

RESIDENT, MENTIONS, KEPT, STAFF, NOT_PERSONAL = "resident", "mentions", "kept", "staff", "not personal"
REDACTED = "[deleted]"

#: Tables with nothing about a person at all, with the reason.
NOT_PERSONAL_TABLES = {
    "boroughs": "reference data (ONS)",
    "wards": "reference data (ONS)",
    "ward_neighbours": "reference data, computed from the wards",
    "team_wards": "which wards a team covers",
    "alert_wards": "which wards an alert targets",
    "meeting_wards": "which wards a meeting is for",
}

#: ``"table.column": (category, how / why)``.
COLUMNS = {
    # accounts
    "users.email": (RESIDENT, "export: account; deletion: the row goes"),
    "users.display_name": (RESIDENT, "export: account; deletion: the row goes"),
    "users.role": (RESIDENT, "export: account; deletion: the row goes"),
    "users.email_frequency": (RESIDENT, "export: account; deletion: the row goes"),
    "users.respondent_key": (RESIDENT, "random key of their anonymous concerns; the row goes"),
    "users.password_hash": (STAFF, "staff only (argon2id); never exported"),
    "users.totp_secret": (STAFF, "staff only (second factor); never exported"),
    "users.rank": (STAFF, "staff only"),
    "users.shoulder_number": (STAFF, "staff only"),
    "user_wards.user_id": (RESIDENT, "export: wards; deletion: cascade"),
    "user_wards.muted": (RESIDENT, "export: wards (updates_stopped); deletion: cascade"),
    "user_categories.user_id": (RESIDENT, "export: categories; deletion: cascade"),
    "user_categories.category": (RESIDENT, "export: categories; deletion: cascade"),
    "concerns.user_id": (RESIDENT, "export: concerns; deletion: set NULL (counts stay)"),
    "concerns.text": (RESIDENT, "export: concerns; deletion: erased"),
    "concerns.respondent_key": (KEPT, "random key, no longer linked to anyone after deletion: "
                                      "ward charts count distinct respondents"),
    "concerns.topic": (KEPT, "a topic code: the anonymous count"),
    "concerns.source": (NOT_PERSONAL, "a code (survey / meeting)"),
    "sms_numbers.user_id": (RESIDENT, "export: text_messages; deletion: deleted"),
    "sms_numbers.phone": (RESIDENT, "export: text_messages; deletion: deleted"),
    "sms_categories.user_id": (RESIDENT, "export: text_messages; deletion: deleted"),
    "sms_categories.category": (RESIDENT, "export: text_messages; deletion: deleted"),
    "phone_codes.user_id": (RESIDENT, "export: text_messages (codes sent); deletion: deleted"),
    "phone_codes.phone": (RESIDENT, "export: text_messages (codes sent); deletion: deleted"),
    "phone_codes.code_hash": (NOT_PERSONAL, "keyed hash of a random one-time code; never "
                                            "exported (useless to anyone), deleted with the row"),
    "used_tokens.purpose": (NOT_PERSONAL, "a code"),
    "cache_generations.name": (NOT_PERSONAL, "a table's name (the page cache's generations)"),
    "postcodes.postcode": (NOT_PERSONAL, "reference data (ONS Postcode Directory): a postcode, no address or person"),
    "postcodes.outward": (NOT_PERSONAL, "reference data: the outward code of a postcode"),
    "used_tokens.jti": (NOT_PERSONAL, "a random token id, no link to a user"),
    # threads
    "conversations.resident_id": (RESIDENT, "export: conversations; deletion: deleted"),
    "conversations.subject": (RESIDENT, "export: conversations; deletion: deleted"),
    "conversations.status": (NOT_PERSONAL, "a code"),
    "conversations.assigned_to_id": (STAFF, "the officer handling it"),
    "messages.author_id": (RESIDENT, "export: conversations; deletion: deleted with the conversation"),
    "messages.body": (RESIDENT, "export: conversations; deletion: deleted with the conversation"),
    "messages.hidden_reason": (RESIDENT, "export: moderation reason; deletion: deleted"),
    "messages.hidden_by_id": (STAFF, "the moderating officer"),
    "messages.idempotency_key": (NOT_PERSONAL, "a random key the browser made for one "
                                               "message; deleted with it"),
    "conversation_reads.user_id": (RESIDENT, "export: read markers; deletion: deleted"),
    "messaging_blocks.user_id": (RESIDENT, "export: messaging_stopped; deletion: deleted"),
    "messaging_blocks.reason": (RESIDENT, "export: messaging_stopped; deletion: deleted"),
    "messaging_blocks.blocked_by_id": (STAFF, "the officer who blocked"),
    "blocked_addresses.address_hmac": (KEPT, "keyed HMAC of a blocked address (BLOCKLIST_KEY), "
                                             "no link to an account: a block survives deletion"),
    "officer_digest_states.user_id": (STAFF, "officers' digest timing"),
    "ward_posts.author_id": (STAFF, "the officer who posted"),
    "ward_posts.author_label": (STAFF, "the officer's name and rank"),
    "ward_posts.kind": (NOT_PERSONAL, "a code"),
    "ward_posts.title": (MENTIONS, "public, scrubbed at publication; redacted on deletion"),
    "ward_posts.question": (MENTIONS, "public, scrubbed at publication; redacted on deletion"),
    "ward_posts.body": (MENTIONS, "public, scrubbed at publication; redacted on deletion"),
    "conversation_access.user_id": (STAFF, "an admin's 'view as admin' step"),
    "conversation_access.reason": (MENTIONS, "an admin's reason; redacted on deletion"),
    # alerts
    "alerts.author_id": (STAFF, "the author"),
    "alerts.title": (NOT_PERSONAL, "a public announcement by staff"),
    "alerts.body": (NOT_PERSONAL, "a public announcement by staff"),
    "alerts.body_html": (NOT_PERSONAL, "a public announcement by staff"),
    "alerts.category": (NOT_PERSONAL, "a code"),
    "alerts.channels": (NOT_PERSONAL, "codes"),
    "alerts.scope": (NOT_PERSONAL, "a code"),
    "alerts.scope_label": (NOT_PERSONAL, "ward names"),
    "alerts.state": (NOT_PERSONAL, "a code"),
    "alert_answers.user_id": (RESIDENT, "export: alert_answers; deletion: set NULL (counts stay)"),
    # delivery
    "notifications.source_type": (NOT_PERSONAL, "a code"),
    "delivery_counts.source_type": (NOT_PERSONAL, "a code (counts kept of deleted deliveries)"),
    "delivery_counts.kind": (NOT_PERSONAL, "a code"),
    "delivery_counts.channel": (NOT_PERSONAL, "a code"),
    "delivery_counts.state": (NOT_PERSONAL, "a code"),
    "notifications.kind": (NOT_PERSONAL, "a code"),
    "notifications.url": (NOT_PERSONAL, "a path on this site"),
    "notifications.category": (NOT_PERSONAL, "a code"),
    "notifications.email_template": (NOT_PERSONAL, "a template name"),
    "notifications.tag": (NOT_PERSONAL, "a collapse key"),
    "notifications.content_key": (NOT_PERSONAL, "SHA-256 of the content, recipient, occasion"),
    "notifications.recipient_id": (RESIDENT, "export: deliveries; deletion: cascade (their own "
                                             "notifications go with the account)"),
    "notifications.title": (MENTIONS, "export: deliveries; deletion: their own notifications "
                                      "deleted, others redacted"),
    "notifications.body": (MENTIONS, "export: deliveries; deletion: as title"),
    "notifications.email_context": (MENTIONS, "export: deliveries; deletion: as title"),
    "deliveries.user_id": (RESIDENT, "export: deliveries; deletion: deleted by the delivery "
                           "domain's erase hook (no foreign key)"),
    "deliveries.last_error": (RESIDENT, "export: deliveries (may hold the address); deletion: "
                              "with the row"),
    "deliveries.channel": (NOT_PERSONAL, "a code"),
    "deliveries.state": (NOT_PERSONAL, "a code"),
    "deliveries.claimed_by": (NOT_PERSONAL, "a worker's name"),
    "fanouts.audience": (NOT_PERSONAL, "a registered audience's name (\"alert\")"),
    "fanouts.channels": (NOT_PERSONAL, "codes"),
    "fanouts.state": (NOT_PERSONAL, "a code"),
    "push_subscriptions.user_id": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_subscriptions.endpoint": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_subscriptions.p256dh": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_subscriptions.auth": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_subscriptions.user_agent": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_removed_devices.user_id": (RESIDENT, "export: push_devices; deletion: cascade"),
    "push_removed_devices.endpoint_hash": (RESIDENT, "export: push_devices; deletion: cascade"),
    # meetings
    "meetings.created_by_id": (STAFF, "the organiser"),
    "meetings.title": (NOT_PERSONAL, "a public meeting notice by staff"),
    "meetings.description": (NOT_PERSONAL, "a public meeting notice by staff"),
    "meetings.venue_name": (NOT_PERSONAL, "a public place"),
    "meetings.address": (NOT_PERSONAL, "a public place"),
    "meetings.accessibility": (NOT_PERSONAL, "about the venue"),
    "meetings.online_url": (NOT_PERSONAL, "the meeting's link"),
    "meetings.summary": (MENTIONS, "written by officers, public; redacted on deletion"),
    "rsvps.user_id": (RESIDENT, "export: meetings; deletion: deleted (waitlist promoted)"),
    "rsvps.status": (RESIDENT, "export: meetings; deletion: deleted"),
    "rsvps.checked_in_by_id": (STAFF, "the officer at the desk"),
    "meeting_concern_answers.answered_by_id": (STAFF, "the officer who answered"),
    # incidents
    "incidents.state": (NOT_PERSONAL, "a code"),
    "incidents.outcome_alert_id": (NOT_PERSONAL, "the outcome alert (public)"),
    "incident_updates.author_id": (STAFF, "the officer who wrote the update"),
    "incident_updates.author_label": (STAFF, "the officer's name and rank"),
    "incident_updates.body": (MENTIONS, "a public update by staff; redacted on deletion"),
    "incident_updates.state": (NOT_PERSONAL, "a code"),
    "incident_follows.user_id": (RESIDENT, "export: incident_follows; deletion: deleted"),
    "conversation_tags.tag": (RESIDENT, "export: conversation_tags; deletion: cascade with "
                                        "the conversation"),
    "conversation_tags.tagged_by_id": (STAFF, "the officer who tagged it"),
    # rumours
    "rumours.asker_id": (RESIDENT, "export: rumour_checks; deletion: unchecked ones deleted, "
                                   "published ones lose the asker (set NULL)"),
    "rumours.text": (RESIDENT, "export: rumour_checks; deletion: deleted or erased"),
    "rumours.status": (NOT_PERSONAL, "a code"),
    "rumours.claim": (MENTIONS, "public wording, scrubbed at publication; redacted on deletion"),
    "rumours.verdict": (NOT_PERSONAL, "a code"),
    "rumour_verdicts.verdict": (NOT_PERSONAL, "a code"),
    "rumour_verdicts.explanation": (MENTIONS, "public, scrubbed at publication; redacted on "
                                              "deletion"),
    "rumour_verdicts.author_id": (STAFF, "the officer who answered"),
    "rumour_verdicts.author_label": (STAFF, "the officer's name and rank"),
    # admin
    "audit_events.actor_id": (STAFF, "staff who acted; residents' actions are not audited"),
    "audit_events.action": (NOT_PERSONAL, "a code"),
    "audit_events.target_type": (NOT_PERSONAL, "a table name"),
    "audit_events.detail": (MENTIONS, "export: audit_events_about_you; deletion: events about "
                                      "them emptied, others redacted (the event and its time stay)"),
    "teams.name": (NOT_PERSONAL, "a team's name"),
    "team_members.user_id": (STAFF, "team membership"),
    "staff_backup_codes.user_id": (STAFF, "second factor"),
    "staff_backup_codes.code_hash": (STAFF, "second factor (SHA-256)"),
    "staff_login_states.user_id": (STAFF, "sign-in throttle"),
    "staff_login_alerts.user_id": (STAFF, "when an officer was last told of guessing"),
    "login_throttles.account_key": (KEPT, "keyed hash of a staff sign-in address; a day at most"),
    "login_throttles.source_key": (KEPT, "keyed hash of an IP address or device id; a day at most"),
    # priorities (officers' public text may name someone: redacted like ward posts)
    "priorities.title": (MENTIONS, "public, written by officers; redacted on deletion"),
    "priorities.commitment": (MENTIONS, "public, written by officers; redacted on deletion"),
    "priorities.status": (NOT_PERSONAL, "a code"),
    "priorities.outcome": (MENTIONS, "public, written by officers; redacted on deletion"),
    "priorities.created_by_id": (STAFF, "the officer who set it"),
    "priority_topics.topic": (NOT_PERSONAL, "a concern topic code"),
    "priority_actions.body": (MENTIONS, "public, written by officers; redacted on deletion"),
    "priority_actions.link_type": (NOT_PERSONAL, "a code"),
    "priority_actions.link_title": (MENTIONS, "a copy of a public title; redacted on deletion"),
    "priority_actions.author_id": (STAFF, "the officer who recorded it"),
    "priority_rounds.question": (MENTIONS, "public, written by officers; redacted on deletion"),
    "priority_rounds.opened_by_id": (STAFF, "the officer who opened it"),
    "conversation_topics.topic": (RESIDENT, "export: conversation_topics; deletion: cascade with the conversation"),
    "conversation_topics.tagged_by_id": (STAFF, "the officer who tagged it"),
    "revoked_sessions.session_id": (NOT_PERSONAL, "random id of a signed-out session"),
}


def refers_to_users(column) -> bool:
    """A reference to a user: a foreign key to ``users``, or a column marked
    ``info={"refers_to": "users"}`` (one without a foreign key: ``deliveries.user_id``)."""
    return (column.info.get("refers_to") == "users"
            or any(fk.column.table.name == "users" for fk in column.foreign_keys))


def needs_classifying(column) -> bool:
    """True for a column that can hold personal data: text, JSON, or a user reference."""
    if isinstance(column.type, (String, Text, JSON)):
        return True
    return refers_to_users(column)


# --------------------------------------------------------------------------- erasure
def identifying_strings(user) -> list[str]:
    """What identifies ``user`` in free text: name, address, concerns, and what the
    domains' ``identify`` hooks name (subjects, messages and replies, reasons, devices)."""
    local = (user.email or "").split("@")[0]
    values = [user.display_name, user.email, local if len(local) >= 6 else None]
    values += db.session.scalars(select(Concern.text).where(Concern.user_id == user.id))
    for identify in IDENTIFIERS:
        values += list(identify(user))
    cleaned = {" ".join(v.split()) for v in values if v and len(v.strip()) >= 3}
    return sorted(cleaned, key=len, reverse=True)


def _redact_text(text, patterns):
    if not isinstance(text, str):
        return text
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


def _redact_json(value, patterns):
    if isinstance(value, str):
        return _redact_text(value, patterns)
    if isinstance(value, list):
        return [_redact_json(v, patterns) for v in value]
    if isinstance(value, dict):
        return {k: _redact_json(v, patterns) for k, v in value.items()}
    return value


def _patterns(strings):
    # Whole words, any case, any whitespace between words (a subject re-flowed in an email).
    return [re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, s.split())) + r"(?!\w)", re.I)
            for s in strings]


def redact_mentions(strings: list[str]) -> int:
    """Replace ``strings`` by ``[deleted]`` in every ``MENTIONS`` column. Candidates are
    found in SQL (LIKE on the text, and on its JSON-escaped form for JSON columns), then
    redacted in Python. Returns the number of rows changed. Does not commit."""
    if not strings:
        return 0
    patterns = _patterns(strings)
    changed = 0
    by_table: dict[str, list[str]] = {}
    for key, (category, _) in COLUMNS.items():
        if category == MENTIONS:
            table, column = key.split(".")
            by_table.setdefault(table, []).append(column)
    for table_name, columns in by_table.items():
        table = db.metadata.tables[table_name]
        conditions = []
        for name in columns:
            col = table.c[name]
            as_text = func.lower(cast(col, Text))
            for s in strings:
                for needle in {s.lower(), json.dumps(s.lower())[1:-1]}:
                    # Word-by-word: a needle is found even where the text breaks its lines.
                    first = max(needle.split(), key=len)
                    conditions.append(as_text.contains(first, autoescape=True))
        pk = list(table.primary_key.columns)
        rows = db.session.execute(select(*pk, *[table.c[n] for n in columns])
                                  .where(or_(*conditions))).all()
        for row in rows:
            keys, values = row[:len(pk)], row[len(pk):]
            new = {}
            for name, value in zip(columns, values, strict=False):
                redacted = (_redact_json(value, patterns) if isinstance(table.c[name].type, JSON)
                            else _redact_text(value, patterns))
                if redacted != value:
                    new[name] = redacted
            if new:
                db.session.execute(update(table).where(*[c == k for c, k in zip(pk, keys, strict=False)])
                                   .values(**new))
                changed += 1
    return changed


def erase_traces(user) -> None:
    """Before the account's rows go: read what identifies the resident (while their
    conversations, messages and devices still exist), run the domains' ``erase`` hooks
    (their own notifications go, audit details about their records are emptied, anonymous
    counts stay), empty the audit details about their account, and redact their
    identifying strings everywhere staff or the app wrote free text. Does not commit."""
    strings = identifying_strings(user)
    for erase in ERASERS:
        erase(user)
    blank_details("users", select(literal(user.id)))
    redact_mentions(strings)
    db.session.flush()

