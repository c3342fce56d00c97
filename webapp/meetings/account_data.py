"""A person's meetings in "Download my data", and what account deletion does to them."""
from __future__ import annotations


from sqlalchemy import select

from webapp.accounts.models import Concern
from webapp.platform.account_data import Gathered, register_account_data
from webapp.platform.audit import blank_details
from webapp.extensions import db
from webapp.meetings.models import Meeting, Rsvp
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.platform.timeutil import utcnow

from webapp.meetings.rsvps import fill_places


# --------------------------------------------------------------------------- account data
def _meeting_parts(user) -> dict:
    """"Download my data": the user's RSVPs and meeting concerns (accounts.EXPORTERS)."""
    return {
        "rsvps": (select(Meeting.title, Meeting.id.label("meeting_id"), Meeting.starts_at,
                         Rsvp.status, Rsvp.created_at, Rsvp.cancelled_at, Rsvp.checked_in_at)
                  .join(Meeting, Meeting.id == Rsvp.meeting_id).where(Rsvp.user_id == user.id),
                  ("starts_at",)),
        "concerns": (select(Concern.id, Meeting.title, Concern.source_id, Concern.topic,
                            Concern.text, Concern.created_at)
                     .join(Meeting, Meeting.id == Concern.source_id)
                     .where(Concern.user_id == user.id, Concern.source == "meeting"), ("id",)),
    }


def _meeting_section(user, rows) -> tuple[str, object]:
    def iso(value):
        return value.isoformat() + "Z" if value else None

    return "meetings", {
        "rsvps": [{"meeting": r["title"], "meeting_id": r["meeting_id"],
                   "starts_at": iso(r["starts_at"]), "status": r["status"],
                   "rsvp_at": iso(r["created_at"]), "cancelled_at": iso(r["cancelled_at"]),
                   "checked_in_at": iso(r["checked_in_at"])} for r in rows["rsvps"]],
        "concerns": [{"meeting": c["title"], "meeting_id": c["source_id"], "topic": c["topic"],
                      "label": CONCERN_TOPICS.get(c["topic"], c["topic"]), "text": c["text"],
                      "created_at": iso(c["created_at"])} for c in rows["concerns"]],
    }


def forget_meetings(user) -> None:
    """Account deletion (accounts.DELETERS): give up the user's places in meetings still to
    come, promoting the waitlist, then remove their RSVPs. Runs in the deletion's
    transaction and does not commit. (Concerns are anonymised by accounts itself.)
    """
    now = utcnow()
    for row in list(db.session.scalars(select(Rsvp).where(Rsvp.user_id == user.id))):
        # Lock the meeting row (PostgreSQL) so the promotion cannot race with RSVPs.
        meeting = db.session.get(Meeting, row.meeting_id, with_for_update=True)
        was_going = row.status == "going"
        db.session.delete(row)
        db.session.flush()
        if was_going and meeting.starts_at > now:
            fill_places(meeting)


def erase_rsvp_traces(user) -> None:
    """Account deletion: the audit events about the user's RSVPs keep their time, not
    their words."""
    blank_details("rsvps", select(Rsvp.id).where(Rsvp.user_id == user.id))


register_account_data(export=Gathered(_meeting_parts, _meeting_section), erase=erase_rsvp_traces, forget=forget_meetings)
