"""A resident's RSVPs and meeting concerns in "Download my data", and account deletion."""
from __future__ import annotations

from sqlalchemy import select

from webapp.accounts.services import delete_account, export_user_data
from webapp.extensions import db
from webapp.meetings import services
from webapp.meetings.models import Rsvp


def test_export_includes_rsvps_and_meeting_concerns(app, make_resident, make_meeting):
    meeting = make_meeting(title="Export me")
    resident = make_resident()
    services.rsvp(meeting.id, resident.id)
    services.add_concern(meeting.id, resident.id, "drugs", "Corner of the square")
    other = make_resident()
    services.rsvp(meeting.id, other.id)
    data = export_user_data(db.session.get(type(resident), resident.id))
    assert [(r["meeting"], r["status"]) for r in data["meetings"]["rsvps"]] == [("Export me", "going")]
    assert [(c["topic"], c["text"]) for c in data["meetings"]["concerns"]] == [("drugs", "Corner of the square")]


def test_deleting_an_account_frees_the_place_for_the_waitlist(app, make_resident, make_meeting, deliveries):
    meeting = make_meeting(capacity=1)
    leaving, waiting = make_resident(), make_resident()
    services.rsvp(meeting.id, leaving.id)
    services.rsvp(meeting.id, waiting.id)
    delete_account(db.session.get(type(leaving), leaving.id))
    db.session.commit()  # the view commits
    rows = list(db.session.scalars(select(Rsvp).where(Rsvp.meeting_id == meeting.id)))
    assert [(r.user_id, r.status) for r in rows] == [(waiting.id, "going")]
    assert deliveries("waitlist_promoted") == {waiting.id: "email"}
