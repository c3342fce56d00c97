"""Every HTML page of the app, with who may see it and the objects it needs: the one list the
HTML validator sweep (``tests/test_html_valid.py``) and the accessibility sweep
(``tests/browser/test_axe_pages.py``) share.

``PAGES`` is static (the browser test parametrizes over it); ``build_world`` makes the demo
objects through the app's own services and the ``make_resident``/``make_staff`` factories, and
``Page.url(world)`` fills the path. ``test_every_get_route_is_listed`` keeps the list complete:
a new GET route must be added here (or to ``NOT_HTML`` if it answers something else).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

ST_JAMES = "E05013806"  # Westminster (the factories' default ward)
BOROUGH = "E09000033"  # Westminster


@dataclass(frozen=True)
class Page:
    """One page: ``path`` with ``{placeholders}`` from the world, seen by ``role``."""

    id: str
    endpoint: str
    path: str
    # visitor | mailed (asked for a sign-in link) | resident | newcomer (survey not done) |
    # officer | admin | enrolling / verifying (staff between password and second factor)
    role: str = "visitor"
    status: int = 200
    fragment: bool = False  # an htmx-only URL: its fragment is a part of another page

    def url(self, world: "World") -> str:
        return self.path.format(**world.values)


PAGES: tuple[Page, ...] = (
    # core
    Page("home", "core.index", "/"),
    Page("privacy", "core.privacy", "/privacy"),
    Page("staff-home", "core.staff_home", "/staff", "officer"),
    Page("not-found", None, "/no-such-page", status=404),
    # accounts
    Page("signup", "accounts.signup", "/signup"),
    Page("login", "accounts.login", "/login"),
    Page("signin-sent", "accounts.check_email", "/signin/sent", "mailed"),
    Page("signin-slow-down", "accounts.too_many", "/signin/slow-down"),
    Page("signin-link", "accounts.signin_link", "/signin/{signin_token}"),
    Page("signin-link-broken", "accounts.signin_link", "/signin/broken", status=400),
    Page("survey-1", "accounts.survey", "/survey?step=1", "newcomer"),
    Page("survey-2", "accounts.survey", "/survey?step=2", "newcomer"),
    Page("survey-3", "accounts.survey", "/survey?step=3", "newcomer"),
    Page("settings", "accounts.settings", "/settings", "resident"),
    Page("settings-phone", "accounts.phone_settings", "/settings/phone", "resident"),
    Page("settings-phone-newcomer", "accounts.phone_settings", "/settings/phone", "newcomer"),
    Page("delete-account", "accounts.delete_account", "/settings/delete", "resident"),
    Page("email-confirm", "accounts.confirm_email", "/settings/email/confirm/{email_change_token}"),
    Page("email-confirm-broken", "accounts.confirm_email", "/settings/email/confirm/broken",
         status=400),
    Page("export-page", "accounts.export_page", "/settings/export/page", "resident"),
    Page("officer-login", "accounts.officer_login", "/officer/login"),
    Page("officer-enrol", "accounts.officer_enrol", "/officer/login/enrol", "enrolling"),
    Page("officer-verify", "accounts.officer_verify", "/officer/login/verify", "verifying"),
    Page("officer-password", "accounts.officer_password", "/officer/password", "officer"),
    # wards
    Page("ward-finder", "wards.finder", "/wards?q=james"),
    Page("ward-finder-borough", "wards.finder", f"/wards?borough={BOROUGH}"),
    Page("ward-finder-postcode", "wards.finder", "/wards?q=SW1A+2AA"),
    Page("ward-finder-outward", "wards.finder", "/wards?q=SE24"),
    Page("ward-finder-malformed", "wards.finder", "/wards?q=SW1A+2A"),
    Page("ward-finder-street", "wards.finder", "/wards?q=Jermyn+Street"),
    Page("ward-search-boundary", "wards.search", "/wards/search?q=SE24+0PB"),
    Page("survey-1-postcode", "accounts.survey", "/survey?step=1&q=SE24+0PB", "newcomer"),
    Page("ward-search", "wards.search", "/wards/search?q=james"),
    Page("ward-borough", "wards.borough", f"/wards/borough?borough={BOROUGH}"),
    Page("ward-locate", "wards.locate", "/wards/locate?lat=51.4975&lon=-0.1357"),
    Page("ward-home", "wards.ward_home", f"/wards/{ST_JAMES}"),
    Page("ward-home-resident", "wards.ward_home", f"/wards/{ST_JAMES}", "resident"),
    Page("ward-home-not-followed", "wards.ward_home", "/wards/E05013792", "resident"),
    Page("ward-posts", "posts.ward_posts", f"/wards/{ST_JAMES}/posts"),
    Page("ward-post", "posts.ward_post", f"/wards/{ST_JAMES}/posts/{{post}}"),
    # alerts
    Page("alert", "alerts.alert_page", "/alerts/{alert}"),
    Page("alert-resident", "alerts.alert_page", "/alerts/{alert}", "resident"),
    Page("officer-alerts", "alerts.officer_alerts", "/officer/alerts", "officer"),
    Page("officer-alert", "alerts.officer_alert", "/officer/alerts/{alert}", "officer"),
    Page("officer-alert-new", "alerts.new_alert", "/officer/alerts/new", "officer"),
    Page("officer-alert-new-admin", "alerts.new_alert", "/officer/alerts/new", "admin"),
    Page("officer-alert-updates", "incidents.officer_updates", "/officer/alerts/{alert}/updates",
         "officer"),
    Page("alert-reply", "incidents.reply", "/alerts/{alert}/reply", "resident"),
    Page("incident-stop", "incidents.stop_following", "/incidents/stop/{unfollow_token}"),
    Page("outcome-alert", "alerts.alert_page", "/alerts/{outcome_alert}"),
    # rumours
    Page("rumours", "rumours.ask", "/rumours", "resident"),
    Page("rumour", "rumours.show", "/rumours/{rumour}"),
    Page("ward-checked", "rumours.ward_checked", f"/wards/{ST_JAMES}/checked"),
    Page("officer-rumour", "rumours.officer_check", "/officer/rumours/{rumour}", "officer"),
    Page("officer-rumour-open", "rumours.officer_check", "/officer/rumours/{open_rumour}", "officer"),
    Page("officer-alert-edit", "alerts.edit_alert", "/officer/alerts/{scheduled_alert}/edit",
         "officer"),
    # meetings
    Page("meetings", "meetings.index", "/meetings", "resident"),
    Page("meeting", "meetings.show", "/meetings/{meeting}"),
    Page("meeting-resident", "meetings.show", "/meetings/{meeting}", "resident"),
    Page("my-meetings", "meetings.mine", "/meetings/mine", "resident"),
    Page("meeting-cancel-link", "meetings.cancel_by_link", "/meetings/cancel/{cancel_token}"),
    Page("meeting-cancel-link-broken", "meetings.cancel_by_link", "/meetings/cancel/broken",
         status=400),
    Page("meeting-cancel-confirm", "meetings.confirm_cancel", "/meetings/{meeting}/cancel/confirm",
         "resident"),
    Page("officer-meetings", "meetings.officer_index", "/officer/meetings", "officer"),
    Page("officer-meeting-new", "meetings.officer_new", "/officer/meetings/new", "officer"),
    Page("officer-meeting", "meetings.officer_show", "/officer/meetings/{meeting}", "officer"),
    Page("officer-checkin", "meetings.officer_checkin", "/officer/meetings/{meeting}/checkin",
         "officer"),
    Page("officer-checkin-search", "meetings.officer_checkin",
         "/officer/meetings/{meeting}/checkin?q=Resident", "officer"),
    # threads
    Page("messages", "threads.messages", "/messages", "resident"),
    Page("conversation", "threads.conversation", "/messages/{conversation}", "resident"),
    Page("conversation-earlier", "threads.earlier",
         "/messages/{conversation}/earlier?before={last_message}", "resident", fragment=True),
    Page("conversation-poll", "threads.poll", "/messages/{conversation}/poll?after=0", "resident", fragment=True),
    Page("officer-inbox", "threads.inbox", "/officer/inbox", "officer"),
    Page("admin-access", "threads.admin_access", "/officer/inbox/admin-access", "admin"),
    Page("officer-conversation", "threads.officer_conversation",
         "/officer/messages/{conversation}", "officer"),
    Page("officer-conversation-earlier", "threads.officer_earlier",
         "/officer/messages/{conversation}/earlier?before={last_message}", "officer", fragment=True),
    Page("officer-conversation-poll", "threads.officer_poll",
         "/officer/messages/{conversation}/poll?after=0", "officer", fragment=True),
    Page("officer-publish", "threads.officer_publish",
         "/officer/messages/{conversation}/publish", "officer"),
    Page("officer-new-post", "threads.officer_new_post", "/officer/posts/new", "officer"),
    # priorities
    Page("ward-priorities", "priorities.ward_priorities", f"/wards/{ST_JAMES}/priorities"),
    Page("priority", "priorities.priority_page", f"/wards/{ST_JAMES}/priorities/{{priority}}"),
    Page("priority-resident", "priorities.priority_page", f"/wards/{ST_JAMES}/priorities/{{priority}}",
         "resident"),
    Page("ward-stats", "priorities.ward_stats", f"/wards/{ST_JAMES}/stats"),
    Page("london-stats", "priorities.london_stats", "/stats?sort=median&dir=desc"),
    Page("round", "priorities.round_answer", "/rounds/{round}", "resident"),
    Page("officer-priorities", "priorities.officer_index", "/officer/priorities", "officer"),
    Page("set-priorities", "priorities.set_priorities", f"/officer/wards/{ST_JAMES}/priorities",
         "officer"),
    Page("edit-priority", "priorities.edit_priority", "/officer/priorities/{priority}/edit", "officer"),
    # delivery, pwa
    Page("unsubscribe", "delivery.unsubscribe", "/unsubscribe/{unsubscribe_token}"),
    Page("unsubscribe-category", "delivery.unsubscribe",
         "/unsubscribe/{unsubscribe_category_token}"),
    Page("offline", "pwa.offline", "/offline"),
    # admin
    Page("admin", "admin.index", "/admin", "admin"),
    Page("admin-officers", "admin.officers", "/admin/officers", "admin"),
    Page("admin-officer-new", "admin.officer_new", "/admin/officers/new", "admin"),
    Page("admin-officer-edit", "admin.officer_edit", "/admin/officers/{officer}", "admin"),
    Page("admin-outbox", "admin.outbox", "/admin/outbox", "admin"),
    Page("admin-teams", "admin.teams", "/admin/teams", "admin"),
    Page("admin-team-new", "admin.team_new", "/admin/teams/new", "admin"),
    Page("admin-team-edit", "admin.team_edit", "/admin/teams/{team}", "admin"),
    Page("admin-audit", "admin.audit", "/admin/audit", "admin"),
    Page("admin-deliveries", "admin.deliveries", "/admin/deliveries", "admin"),
    Page("admin-outbox-status", "admin.outbox_status", "/admin/outbox-status", "admin", fragment=True),
)

# Forms sent with mistakes: the page or fragment with the errors next to the fields (422).
# (id, role, path, form data); the HTML validator checks these too.
FORM_ERRORS: tuple[tuple[str, str, str, dict], ...] = (
    ("signup-errors", "visitor", "/signup", {"email": "not an address"}),
    ("login-errors", "visitor", "/login", {"email": "bad"}),
    ("officer-login-errors", "visitor", "/officer/login", {"email": "bad"}),
    ("officer-enrol-errors", "enrolling", "/officer/login/enrol", {"code": "1"}),
    ("survey-errors", "resident", "/survey", {"step": "3", "other_text": "x" * 3000}),
    ("settings-name-errors", "resident", "/settings/name", {"display_name": ""}),
    ("settings-email-errors", "resident", "/settings/email", {"email": "bad"}),
    ("phone-errors", "resident", "/settings/phone", {"phone": "020 7946 0000"}),
    ("phone-code-errors", "resident", "/settings/phone/confirm", {"code": "12"}),
    ("new-conversation-errors", "resident", "/messages", {"subject": "", "body": ""}),
    ("alert-errors", "officer", "/officer/alerts/new", {"title": ""}),
    ("meeting-errors", "officer", "/officer/meetings/new", {"title": ""}),
    ("update-errors", "officer", "/officer/alerts/{alert}/updates", {"body": ""}),
    ("rumour-errors", "resident", "/rumours", {"text": "x" * 600}),
    ("verdict-errors", "officer", "/officer/rumours/{open_rumour}", {"claim": ""}),
    # The guard: an emergency-like message is held back with the 999 warning.
    ("guard-new-conversation", "resident", "/messages",
     {"subject": "Help", "body": "He has a knife, it is happening now"}),
    ("guard-rumour", "resident", "/rumours", {"text": "I want to report a burglary"}),
    ("guard-alert-reply", "resident", "/alerts/{alert}/reply",
     {"body": "My car was broken into last night"}),
    ("ward-post-errors", "officer", "/officer/posts/new", {"title": ""}),
    ("priority-errors", "officer", f"/officer/wards/{ST_JAMES}/priorities", {"title": ""}),
    ("priority-edit-errors", "officer", "/officer/priorities/{priority}/edit", {"title": ""}),
    ("round-errors", "resident", "/rounds/{round}", {"concerns": ["other"]}),
    ("admin-officer-errors", "admin", "/admin/officers/new", {"email": "bad"}),
    ("admin-team-errors", "admin", "/admin/teams/new", {"name": ""}),
)

# GET routes that answer something other than an HTML page.
NOT_HTML = {
    "static", "core.healthz", "core.readyz", "pwa.manifest", "pwa.service_worker", "pwa.push_key",
    "accounts.export", "meetings.meeting_ics", "meetings.ward_feed", "meetings.officer_csv",
    "priorities.priorities_json", "priorities.priorities_wardline_json", "priorities.ward_feed",
    "priorities.london_feed", "metrics",
}


@dataclass
class World:
    """The demo objects: users by role, and the values the page paths need."""

    users: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    def session_for(self, role: str) -> dict | None:
        """The session a browser of ``role`` carries (None for a visitor), as the sign-in
        flows leave it."""
        from webapp.platform.timeutil import utcnow
        if role == "visitor":
            return None
        if role == "mailed":
            return {"signin_sent_to": self.users["resident"].email}
        user = self.users[role]
        if role in ("enrolling", "verifying"):  # passed the password step, not the second factor
            return {"staff_pending": {"uid": user.id, "sv": user.session_version,
                                      "at": utcnow().timestamp(), "next": None}}
        data = {"_user_id": user.get_id(), "_fresh": True}
        if user.role in ("officer", "admin"):
            data["mfa_user_id"] = user.id
            # A staff session starts now (it expires when idle or too old).
            data["staff_since"] = data["staff_seen"] = int(time.time())
        return data


def build_world(make_resident, make_staff) -> World:
    """Make one of everything a page shows, through the app's services, so that every page
    has rows in its tables and lists."""
    from sqlalchemy import update

    from webapp.accounts.services import signin_token
    from webapp.platform.audit import record
    from webapp.alerts.services import AlertInput, create_alert, resolve_target, send_alert
    from webapp.delivery.emails import unsubscribe_token
    from webapp.delivery.models import Delivery
    from webapp.extensions import db
    from webapp.meetings.services import MeetingDetails, create_meeting, rsvp
    from webapp import posts
    from webapp.threads import services as threads
    from webapp.platform.timeutil import utcnow
    from webapp.wards.services import get_ward

    ward = get_ward(ST_JAMES)
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Morgan", shoulder_number="123AB")
    admin = make_staff("admin", name="Ada Admin")
    resident = make_resident(ST_JAMES, name="Sam Resident", concerns=("burglary",))
    newcomer = make_resident(ST_JAMES, name="New Resident", completed=False)
    enrolling = make_staff("officer", team=officer.teams[0], name="Enrolling Officer")
    verifying = make_staff("officer", team=officer.teams[0], name="Verifying Officer")
    verifying.totp_secret = "JBSWY3DPEHPK3PXP"
    verifying.totp_confirmed_at = utcnow()
    # Text messages: a confirmed number with a category, and a code waiting for a new number.
    from webapp.accounts.phone import PhoneCode, SmsCategory, SmsNumber
    db.session.add_all([
        SmsNumber(user_id=resident.id, phone="+447911123456", confirmed_at=utcnow()),
        SmsCategory(user_id=resident.id, category="appeals"),
        PhoneCode(user_id=resident.id, phone="+447911123457", code_hash="0" * 64,
                  expires_at=utcnow() + timedelta(minutes=10))])
    db.session.commit()

    target = resolve_target(officer, "wards", [ward.id])
    alert = create_alert(officer, AlertInput(
        title="Phone snatches on Railton Road", body="Keep your phone **out of sight**.",
        category="prevention", channels=["email", "push"], target=target))
    db.session.commit()
    send_alert(alert.id)
    scheduled = create_alert(officer, AlertInput(
        title="Bike marking on Saturday", body="Bring your bike.", category="events",
        channels=["email"], target=target, send_at=utcnow() + timedelta(days=2)))
    db.session.commit()
    db.session.execute(update(Delivery).values(state="dead", attempts=8,
                                               last_error="550 mailbox unavailable"))

    start = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    meeting = create_meeting(officer, MeetingDetails(
        title="Ward panel", description="Talk to your ward team.", venue_name="St James's Hall",
        address="1 Example Street, London SW1A 1AA", accessibility="Step-free entrance.",
        starts_at=start, ends_at=start + timedelta(hours=2), capacity=50,
        rsvp_closes_at=start - timedelta(hours=1), online_url=None, reminder_hours=24),
        [ward.id], None)
    db.session.commit()
    place = rsvp(meeting.id, resident.id)
    from webapp.meetings.services import cancel_token
    from webapp.accounts.email_change import change_token
    from webapp.wards.postcodes import load_postcodes
    from pathlib import Path
    load_postcodes(Path(__file__).parent / "wards" / "data" / "onspd_sample.csv")

    conversation = threads.start_conversation(resident, ward, "Bikes on the pavement",
                                              "Cyclists ride fast on the pavement.")
    db.session.commit()
    message, _ = threads.add_message(conversation, officer, "Thanks, we will patrol there.")
    post = posts.create_ward_post(ward, officer, "Patrols this week", "We will be on foot.")
    from webapp.incidents import services as incidents
    from webapp.rumours import services as rumours
    db.session.commit()
    incidents.set_following(resident, alert, True)
    incidents.add_update(officer, alert, incidents.UpdateInput(body="Two arrests were made."))
    incidents.add_update(officer, alert, incidents.UpdateInput(
        body="A man has been charged.", close="outcome", outcome_title="Man charged over phone snatches"))
    outcome_alert = incidents.incident_for(alert).outcome_alert_id
    incidents.answer_needs_reporting(officer, conversation, "crime")
    checked = rumours.ask(resident, ward, "People say the station is closing")
    open_rumour = rumours.ask(resident, ward, "Heard the park will be locked at night")
    db.session.commit()
    rumours.publish_verdict(officer, checked, "The station is closing", "false", "It stays open.")
    rumours.publish_verdict(officer, checked, "The station is closing", "partly",
                            "The front counter closes on Sundays; the station stays open.")
    record(admin, "team.update", officer.teams[0], "Wards changed")
    db.session.commit()

    from webapp.priorities import services as priorities
    from webapp.priorities.models import ConversationTopic
    db.session.add(ConversationTopic(conversation_id=conversation.id, topic="burglary"))
    priority = priorities.create_priority(officer, ward, priorities.PriorityInput(
        "Burglary on quiet streets", "Evening patrols and free door locks.", ["burglary", "asb"],
        (utcnow() + timedelta(days=60)).date()))
    priorities.add_action(officer, priority, priorities.ActionInput(
        "Fitted 20 door locks on King Street", link=f"post:{post.id}"))
    closed = priorities.create_priority(officer, ward, priorities.PriorityInput(
        "Phone snatches", "Plain-clothes patrols.", ["phone_theft"], (utcnow() + timedelta(days=30)).date()))
    priorities.close_priority(officer, closed, "Snatches fell by a third.")
    round_ = priorities.open_round(officer, ward, "What matters most here this quarter?")
    priorities.answer_round(resident, round_, None)
    db.session.commit()

    return World(
        users={"resident": resident, "newcomer": newcomer, "officer": officer, "admin": admin,
               "enrolling": enrolling, "verifying": verifying},
        values={"alert": alert.id, "scheduled_alert": scheduled.id, "meeting": meeting.id,
                "conversation": conversation.id, "last_message": message.id + 1,
                "post": post.id, "officer": officer.id, "priority": priority.id, "round": round_.id, "outcome_alert": outcome_alert,
                "rumour": checked.id, "open_rumour": open_rumour.id,
                "unfollow_token": incidents.unfollow_token(resident.id, alert.id), "team": officer.teams[0].id,
                "signin_token": signin_token(resident),
                "unsubscribe_token": unsubscribe_token(resident),
                "unsubscribe_category_token": unsubscribe_token(resident, "appeals"),
                "cancel_token": cancel_token(place),
                "email_change_token": change_token(resident, "sam.new@example.org")})
