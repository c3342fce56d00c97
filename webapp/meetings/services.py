"""Meetings' services, one module per concern; this module re-exports them so callers
stay short (``services.rsvp(...)``):

- :mod:`webapp.meetings.scope`: errors, who manages or sees which meetings;
- :mod:`webapp.meetings.notices`: what the outbox says about a meeting, invitations, reminders;
- :mod:`webapp.meetings.rsvps`: the meeting lock, RSVPs with capacity and waitlist;
- :mod:`webapp.meetings.lifecycle`: set-up, changes, cancellation, the summary;
- :mod:`webapp.meetings.concerns`: concerns raised for a meeting and their answers;
- :mod:`webapp.meetings.checkin`: check-in codes, attendee lists;
- :mod:`webapp.meetings.account_data`: export and deletion of a person's RSVPs.

RSVPs never overbook: every change of who is going happens in a transaction that holds the
meeting's lock (:func:`meeting_lock`: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), then counts, then writes. Functions that take the lock commit.
Notifications go through :mod:`webapp.delivery` (``notify``, ``fan_out``), in the same
transaction as the change they announce.
"""
from __future__ import annotations

from webapp.meetings.scope import (
    MeetingError,
    NotAllowed,
    RsvpClosed,
    can_manage,
    in_organising_team,
    lives_in_meeting_wards,
    manageable_boroughs,
    managed_meeting,
    meeting_ids_managed_by,
    meetings_for_resident,
    meetings_managed_by,
    ward_meetings,
)
from webapp.meetings.notices import (
    notify_many,
    when_text,
    meeting_path,
    send_due_reminders,
    send_invitations,
)
from webapp.meetings.rsvps import (
    CANCEL_PURPOSE,
    attendees_of,
    cancel_token,
    fill_places,
    cancel_rsvp,
    going_count,
    meeting_lock,
    my_meetings,
    places_left,
    rsvp,
    rsvp_closed_reason,
    rsvp_counts,
    rsvp_for,
    rsvp_for_cancel_token,
    attendance,
    waitlist_position,
)
from webapp.meetings.lifecycle import (
    MAX_AHEAD,
    MAX_LENGTH,
    MeetingDetails,
    SUMMARY_MAX,
    cancel_meeting,
    create_meeting,
    post_summary,
    update_meeting,
    validate_details,
)
from webapp.meetings.concerns import (
    add_concern,
    concern_chart,
    delete_concern,
    mark_answered,
    may_submit_concerns,
    meeting_concerns,
    own_concerns,
)
from webapp.meetings.checkin import (
    CHECKIN_PURPOSE,
    attendee_csv,
    attendee_list,
    check_in,
    check_in_by_token,
    checkin_code,
    checkin_token,
    search_attendees,
)
from webapp.meetings.account_data import (
    erase_rsvp_traces,
    forget_meetings,
)

__all__ = [
    'MeetingError',
    'NotAllowed',
    'RsvpClosed',
    'can_manage',
    'in_organising_team',
    'lives_in_meeting_wards',
    'manageable_boroughs',
    'managed_meeting',
    'meeting_ids_managed_by',
    'meetings_for_resident',
    'meetings_managed_by',
    'ward_meetings',
    'notify_many',
    'when_text',
    'meeting_path',
    'send_due_reminders',
    'send_invitations',
    'CANCEL_PURPOSE',
    'attendees_of',
    'cancel_token',
    'fill_places',
    'cancel_rsvp',
    'going_count',
    'meeting_lock',
    'my_meetings',
    'places_left',
    'rsvp',
    'rsvp_closed_reason',
    'rsvp_counts',
    'rsvp_for',
    'rsvp_for_cancel_token',
    'attendance',
    'waitlist_position',
    'MAX_AHEAD',
    'MAX_LENGTH',
    'MeetingDetails',
    'SUMMARY_MAX',
    'cancel_meeting',
    'create_meeting',
    'post_summary',
    'update_meeting',
    'validate_details',
    'add_concern',
    'concern_chart',
    'delete_concern',
    'mark_answered',
    'may_submit_concerns',
    'meeting_concerns',
    'own_concerns',
    'CHECKIN_PURPOSE',
    'attendee_csv',
    'attendee_list',
    'check_in',
    'check_in_by_token',
    'checkin_code',
    'checkin_token',
    'search_attendees',
    'erase_rsvp_traces',
    'forget_meetings',
]
