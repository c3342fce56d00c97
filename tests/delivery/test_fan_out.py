"""The outbox's set-based API: ``fan_out(event, audience)`` over ``residents_following``."""
from sqlalchemy import select

from tests.delivery.test_outbox import subscribe
from webapp.accounts import residents_following
from webapp.accounts.models import User
from webapp.delivery import Event, fan_out
from webapp.delivery.models import Delivery, Notification
from webapp.extensions import db
from webapp.wards.models import Ward
from webapp.wards.services import get_ward

ST_JAMES, HERNE_HILL = "E05013806", "E05014104"


def event(n=1, kind="alert", urgent=False):
    return Event(kind=kind, source_type="test", source_id=n, title=f"Notice {n}", body="Body",
                 url="/", category="events", urgent=urgent)


def test_residents_following_is_followers_of_the_wards_who_chose_the_category(app, make_resident,
                                                                             make_staff):
    home = make_resident(ST_JAMES)
    extra = make_resident(HERNE_HILL, extra_wards=(ST_JAMES,))
    make_resident(ST_JAMES, categories=("prevention",))       # did not choose "events"
    make_resident(HERNE_HILL)                                  # follows another ward
    unconfirmed = make_resident(ST_JAMES)
    unconfirmed.confirmed_at = None
    make_staff("officer", wards=[ST_JAMES])                    # staff are no audience
    db.session.commit()
    who = residents_following([get_ward(ST_JAMES).id], "events").subquery()
    assert sorted(db.session.scalars(select(who.c.user_id))) == sorted([home.id, extra.id])
    wards = select(Ward.id).where(Ward.code.in_([ST_JAMES, HERNE_HILL]))
    both = residents_following(wards, "events").subquery()
    assert db.session.scalar(select(db.func.count()).select_from(both)) == 3  # each once


def test_fan_out_follows_each_residents_channels_once_and_is_idempotent(app, make_resident,
                                                                        push_service):
    now_email = make_resident(ST_JAMES)
    digest = make_resident(ST_JAMES, email_frequency="digest")
    off = make_resident(ST_JAMES, email_frequency="off")
    subscribe(off, push_service)
    audience = residents_following([get_ward(ST_JAMES).id], "events")
    assert fan_out(event(), audience) == 3
    db.session.commit()
    got = {(d.user_id, d.channel) for d in db.session.scalars(select(Delivery))}
    assert got == {(now_email.id, "email"), (digest.id, "digest"), (off.id, "push")}
    assert db.session.scalar(select(db.func.count()).select_from(Notification)) == 1  # shared
    assert fan_out(event(), audience) == 0
    assert fan_out(event(), audience, returning=False) == 0
    # An urgent event skips the digest; push only when asked for.
    assert fan_out(event(2, urgent=True), audience, channels=("email",), returning=False) == 2
    assert {d.channel for d in db.session.scalars(select(Delivery).where(
        Delivery.user_id == digest.id))} == {"digest", "email"}


def test_fan_out_without_a_frequency_column_emails_every_member(app, make_resident):
    """The digest's audience has already chosen: an email each, whatever the frequency."""
    users = [make_resident(ST_JAMES, email_frequency=f) for f in ("digest", "off")]
    audience = select(User.id.label("user_id")).where(User.id.in_([u.id for u in users]))
    assert fan_out(event(kind="digest"), audience, channels=("email",)) == 2
    assert {d.channel for d in db.session.scalars(select(Delivery))} == {"email"}
