"""A person's meetings in "Download my data", and what account deletion does to them."""
from __future__ import annotations


from sqlalchemy import select

from webapp.accounts.models import Concern
from webapp.platform.account_data import register_account_data
from webapp.platform.audit import blank_details
from webapp.extensions import db
from webapp.meetings.models import Meeting, Rsvp
from webapp.platform.taxonomy import CONCERN_TOPICS
from webapp.platform.timeutil import utcnow

from webapp.meetings.rsvps import fill_places


# --------------------------------------------------------------------------- account data
def export_meetings(user) -> tuple[str, object]:
    """"Download my data": the user's RSVPs and meeting concerns (accounts.EXPORTERS)."""
    def iso(value):
        return value.isoformat() + "Z" if value else None

    rows = db.session.execute(select(Rsvp, Meeting).join(Meeting, Meeting.id == Rsvp.meeting_id)
                              .where(Rsvp.user_id == user.id).order_by(Meeting.starts_at)).all()
    concerns = db.session.execute(
        select(Concern, Meeting.title).join(Meeting, Meeting.id == Concern.source_id)
        .where(Concern.user_id == user.id, Concern.source == "meeting").order_by(Concern.id)).all()
    return "meetings", {
        "rsvps": [{"meeting": m.title, "meeting_id": m.id, "starts_at": iso(m.starts_at),
                   "status": r.status, "rsvp_at": iso(r.created_at),
                   "cancelled_at": iso(r.cancelled_at), "checked_in_at": iso(r.checked_in_at)}
                  for r, m in rows],
        "concerns": [{"meeting": title, "meeting_id": c.source_id, "topic": c.topic,
                      "label": CONCERN_TOPICS.get(c.topic, c.topic), "text": c.text,
                      "created_at": iso(c.created_at)} for c, title in concerns],
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


register_account_data(export=export_meetings, erase=erase_rsvp_traces, forget=forget_meetings)
