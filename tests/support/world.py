"""A first team's world, built through the services, for the cross-team and account-data
tests: a resident with something in every table that can hold data about them, their ward
team (an officer, a meeting, an alert, a ward post) and an admin's London-wide alert."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.platform.timeutil import utcnow

ST_JAMES = "E05013806"      # the first team's ward
HERNE_HILL = "E05014104"    # the second team's ward

# Recognisable strings that must not survive the resident's account deletion.
RESIDENT_NAME = "Zebedee Quillfeather"
RESIDENT_EMAIL = "zebedee.quillfeather@example.org"
SUBJECT = "Quillfeather bins subject"
MESSAGE = "Quillfeather message text about my neighbour"
REPLY = "Quillfeather reply text from the team"
CONCERN_TEXT = "Quillfeather concern about the alley"
BLOCK_REASON = "Quillfeather block reason: abusive"
HIDE_REASON = "Quillfeather hide reason"
USER_AGENT = "Quillfeather phone agent"
RUMOUR_TEXT = "Quillfeather heard the station on our road is closing"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/quillfeather-device"
PHONE = "+447700900461"  # a confirmed mobile (Ofcom drama range)
PENDING_PHONE = "+447700900462"  # a number being confirmed


@dataclass
class World:
    ids: dict = field(default_factory=dict)
    resident: object = None
    officer: object = None
    admin: object = None


def build_world(make_resident, make_staff, *, block: bool = True) -> World:
    """Create the first team's objects; ``world.ids`` maps URL parameter names to their ids."""
    from webapp.alerts.services import AlertInput, create_alert, resolve_target
    from webapp.delivery.models import Delivery, PushSubscription
    from webapp.meetings import services as meetings
    from webapp import posts
    from webapp.threads import services as threads
    from webapp.wards.models import Team
    from webapp.wards.services import get_ward

    world = World()
    resident = make_resident(ST_JAMES, email_address=RESIDENT_EMAIL, name=RESIDENT_NAME,
                             concerns=("burglary",))
    officer = make_staff("officer", wards=[ST_JAMES], name="Officer Alpha")
    admin = make_staff("admin", name="Admin Alpha")
    team = db.session.scalar(select(Team).where(Team.members.contains(officer)))
    world.resident, world.officer, world.admin = resident, officer, admin

    # A conversation, the team's reply (a notification with the resident's name, the
    # subject and the reply text), a read marker, a hidden message, a block.
    conv = threads.start_conversation(resident, resident.home_ward, SUBJECT, MESSAGE)
    db.session.commit()
    reply, _ = threads.add_message(conv, officer, REPLY)
    db.session.commit()
    threads.mark_read(conv, resident)
    second, _ = threads.add_message(conv, resident, MESSAGE + " again")
    threads.hide_message(second, officer, HIDE_REASON)
    threads.take_conversation(conv, officer)
    threads.record_view(conv, officer)
    if block:
        threads.block_resident(resident, officer, BLOCK_REASON)
    db.session.commit()

    # A push device, a dead delivery for the admin's deliveries page.
    device = PushSubscription(user_id=resident.id, endpoint=ENDPOINT, p256dh="p" * 87,
                              auth="a" * 22, user_agent=USER_AGENT)
    db.session.add(device)
    db.session.flush()
    delivery = db.session.scalar(select(Delivery).where(Delivery.user_id == resident.id))
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id)
                       .values(state="dead", last_error="550 mailbox unavailable"))
    db.session.commit()

    # A confirmed mobile number, its text categories, and a code waiting for a new number.
    from webapp.accounts.phone import PhoneCode, SmsCategory, SmsNumber
    db.session.add_all([
        SmsNumber(user_id=resident.id, phone=PHONE, confirmed_at=utcnow()),
        SmsCategory(user_id=resident.id, category="appeals"),
        PhoneCode(user_id=resident.id, phone=PENDING_PHONE, code_hash="0" * 64,
                  expires_at=utcnow() + timedelta(minutes=10))])
    db.session.commit()

    # A meeting with the resident's RSVP, concern and check-in.
    from webapp.meetings.services import MeetingDetails
    start = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    meeting = meetings.create_meeting(officer, MeetingDetails(
        title="St James's meeting", description="Talk to us.", venue_name="Hall",
        address="1 Example Street", accessibility="Step-free.", starts_at=start,
        ends_at=start + timedelta(hours=2), capacity=20,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None, reminder_hours=24),
        [get_ward(ST_JAMES).id], None)
    db.session.commit()
    rsvp = meetings.rsvp(meeting.id, resident.id)
    concern = meetings.add_concern(meeting.id, resident.id, "burglary", CONCERN_TEXT)
    meeting = db.session.get(type(meeting), meeting.id)
    meetings.check_in(officer, meeting, rsvp_id=rsvp.id)
    db.session.commit()
    meetings.mark_answered(officer, meeting, concern.id, True)
    db.session.commit()

    # Alerts: the team's own (scheduled, St James's only) and an admin's London-wide one
    # (scheduled), whose audience includes the second team's ward too; the resident's
    # "Was this useful?" answer to a sent one.
    later = utcnow() + timedelta(hours=3)
    own_alert = create_alert(officer, AlertInput(
        title="St James's scheduled alert", body="Body.", category="prevention",
        channels=["email"], target=resolve_target(officer, "wards", [get_ward(ST_JAMES).id]),
        send_at=later))
    db.session.commit()
    london = create_alert(admin, AlertInput(
        title="London-wide scheduled alert", body="Body.", category="prevention",
        channels=["email"], target=resolve_target(admin, "london"), send_at=later))
    db.session.commit()
    sent = create_alert(officer, AlertInput(
        title="St James's sent alert", body="Body.", category="prevention", channels=["email"],
        target=resolve_target(officer, "wards", [get_ward(ST_JAMES).id])))
    db.session.commit()
    from webapp.alerts.services import answer_useful
    answer_useful(sent, resident, True)
    db.session.commit()

    # Incidents: an update on the sent alert, the resident following it, a "needs
    # reporting" answer tagging their conversation. Rumours: what they heard, checked in
    # public (the officer's wording names them: scrubbed at publication).
    from webapp.incidents import services as incidents
    from webapp.rumours import services as rumours
    incidents.set_following(resident, sent, True)
    incidents.add_update(officer, sent, incidents.UpdateInput(body="Update: the road has reopened."))
    incidents.answer_needs_reporting(officer, conv, "crime")
    rumour = rumours.ask(resident, resident.home_ward, RUMOUR_TEXT)
    db.session.commit()
    rumours.publish_verdict(officer, rumour, f"{RESIDENT_NAME} heard the station is closing",
                            "false", "The station stays open.")
    open_rumour = rumours.ask(resident, resident.home_ward, RUMOUR_TEXT + " too")
    db.session.commit()

    post = posts.create_ward_post(resident.home_ward, officer, "Team post", "Post body.")
    db.session.commit()

    # Free text others wrote about the resident: the officers' digest (subject), an admin's
    # "view as admin" reason naming them, a published answer (scrubbed at publication), a
    # device they removed.
    threads.send_officer_digests()
    threads.grant_admin_access(admin, f"Complaint from {RESIDENT_NAME} about bins", 30)
    threads.publish_answer(conv, officer, "Bins", f"{RESIDENT_NAME} asked about bins",
                           "We spoke to the council.")
    from webapp.pwa.models import RemovedDevice, endpoint_hash
    db.session.add(RemovedDevice(endpoint_hash=endpoint_hash(ENDPOINT + "-old"), user_id=resident.id))
    db.session.commit()

    # A priority with an action, and an open "ask residents again" round the resident answered.
    from webapp.priorities import services as priorities
    priority = priorities.create_priority(officer, get_ward(ST_JAMES), priorities.PriorityInput(
        "St James's priority", "Patrols.", ["burglary"], (utcnow() + timedelta(days=30)).date()))
    priorities.add_action(officer, priority, priorities.ActionInput("Patrolled"))
    round_ = priorities.open_round(officer, get_ward(ST_JAMES), "What matters most?")
    priorities.answer_round(resident, round_, None)
    db.session.commit()

    world.ids = {"code": ST_JAMES, "priority_id": priority.id, "round_id": round_.id,
                 "conversation_id": conv.id, "message_id": reply.id, "hidden_message_id": second.id,
                 "meeting_id": meeting.id, "concern_id": concern.id, "rsvp_id": rsvp.id,
                 "alert_id": london.id, "own_alert_id": own_alert.id, "sent_alert_id": sent.id,
                 "subscription_id": device.id, "rumour_id": open_rumour.id, "delivery_id": delivery.id,
                 "user_id": officer.id, "team_id": team.id, "post_id": post.id}
    return world


def snapshot() -> dict:
    """Every row of every table (reference data aside), to show that nothing changed."""
    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        if table.name in ("boroughs", "wards", "ward_neighbours"):
            continue
        rows = db.session.execute(select(table)).all()
        tables[table.name] = sorted((tuple(map(repr, row)) for row in rows))
    return tables
