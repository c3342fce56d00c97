"""Retention ticks of accounts and the audit log: sign-ups never confirmed go after
RETENTION_UNCONFIRMED_DAYS, records of used links once the link has expired, audit events
after RETENTION_AUDIT_DAYS; each is batched and a second run does nothing."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.delivery.test_retention import deletes_of
from webapp.accounts.models import User
from webapp.accounts.retention import purge_unconfirmed_signups, purge_used_tokens
from webapp.extensions import db
from webapp.platform.audit import AuditEvent
from webapp.platform.retention import purge_audit_events
from webapp.platform.timeutil import utcnow
from webapp.platform.tokens import UsedToken


def test_unconfirmed_signups_go_after_seven_days(app, client, make_resident, make_staff, mail,
                                                 monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 2)
    for n in range(3):  # three real sign-ups that never followed their link
        client.post("/signup", data={"email": f"late{n}@example.org", "display_name": f"Late {n}"})
    client.post("/signup", data={"email": "fresh@example.org", "display_name": "Fresh"})
    assert db.session.scalar(select(User.id).where(User.email == "fresh@example.org"))
    confirmed = make_resident()
    staff = make_staff("officer")
    eight_days_ago = utcnow() - timedelta(days=8)
    for user in db.session.scalars(select(User).where(User.email != "fresh@example.org")):
        user.created_at = eight_days_ago
    staff.confirmed_at = None  # staff are never removed by this tick
    db.session.commit()

    assert purge_unconfirmed_signups() == {"unconfirmed_signups": 3}
    left = set(db.session.scalars(select(User.email)))
    assert left == {"fresh@example.org", confirmed.email, staff.email}
    assert purge_unconfirmed_signups() is None


def test_used_link_records_go_once_the_link_expired(app):
    now = utcnow()
    max_age = app.config["SIGNIN_LINK_MAX_AGE"]
    rows = {"old-signin": ("signin", now - timedelta(seconds=max_age + 60)),
            "new-signin": ("signin", now - timedelta(seconds=max_age - 60)),
            "old-change": ("email-change", now - timedelta(hours=25)),
            "new-change": ("email-change", now - timedelta(hours=2))}
    for jti, (purpose, used_at) in rows.items():
        db.session.add(UsedToken(purpose=purpose, jti=jti, used_at=used_at))
    db.session.commit()
    assert purge_used_tokens() == {"used_tokens": 2}
    assert set(db.session.scalars(select(UsedToken.jti))) == {"new-signin", "new-change"}
    assert purge_used_tokens() is None


def test_audit_events_go_after_the_configured_period_in_batches(app, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_AUDIT_DAYS", 10)
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 2)
    now = utcnow()
    for n in range(5):
        db.session.add(AuditEvent(action="staff.test", detail=f"old {n}",
                                  created_at=now - timedelta(days=11)))
    db.session.add(AuditEvent(action="staff.test", detail="recent", created_at=now - timedelta(days=9)))
    db.session.commit()
    with deletes_of("audit_events") as batches:
        assert purge_audit_events() == {"audit_events": 5}
    assert batches == [2, 2, 1]
    assert list(db.session.scalars(select(AuditEvent.detail))) == ["recent"]
    assert purge_audit_events() is None


def test_privacy_page_states_each_period_from_the_settings(app, client, monkeypatch):
    for name, days in (("RETENTION_UNCONFIRMED_DAYS", 11), ("RETENTION_OUTBOX_DAYS", 33),
                       ("RETENTION_PUSH_UNSEEN_DAYS", 99), ("RETENTION_AUDIT_DAYS", 444)):
        monkeypatch.setitem(app.config, name, days)
    html = " ".join(client.get("/privacy").get_data(as_text=True).split())
    for text in ("deleted after 11 days", "33 days after it was written",
                 "for 99 days", "deleted after 444 days",
                 "code we texted you is deleted an hour after it was sent",
                 f"{app.config['SIGNIN_LINK_MAX_AGE'] // 60} minutes after it was sent"):
        assert text in html, text


def test_spent_phone_codes_go_after_an_hour_and_pending_ones_stay(app, make_resident):
    from webapp.accounts.phone import PhoneCode
    from webapp.accounts.retention import purge_spent_phone_codes
    resident = make_resident()
    now = utcnow()
    rows = {  # name: (created, expires, used)
        "old-used": (now - timedelta(hours=2), now - timedelta(hours=1, minutes=50), now - timedelta(hours=2)),
        "old-expired": (now - timedelta(hours=3), now - timedelta(hours=2, minutes=50), None),
        "recent-expired": (now - timedelta(minutes=30), now - timedelta(minutes=20), None),
        "old-pending": (now - timedelta(hours=2), now + timedelta(minutes=5), None),
    }
    for name, (created, expires, used) in rows.items():
        db.session.add(PhoneCode(user_id=resident.id, phone="+447700900123", code_hash=name,
                                 created_at=created, expires_at=expires, used_at=used))
    db.session.commit()
    assert purge_spent_phone_codes() == {"phone_codes": 2}
    assert set(db.session.scalars(select(PhoneCode.code_hash))) == {"recent-expired", "old-pending"}
    assert purge_spent_phone_codes() is None


def test_signed_out_session_records_go_once_expired(app, monkeypatch):
    from webapp.accounts.retention import purge_expired_revocations
    from webapp.accounts.sessions import RevokedSession
    monkeypatch.setitem(app.config, "RETENTION_BATCH", 2)
    now = utcnow()
    for n in range(3):
        db.session.add(RevokedSession(session_id=f"gone{n}", expires_at=now - timedelta(minutes=1)))
    db.session.add(RevokedSession(session_id="kept", expires_at=now + timedelta(days=1)))
    db.session.commit()
    with deletes_of("revoked_sessions") as batches:
        assert purge_expired_revocations() == {"revoked_sessions": 3}
    assert batches == [2, 1]
    assert list(db.session.scalars(select(RevokedSession.session_id))) == ["kept"]
    assert purge_expired_revocations() is None
