"""Ward posts: publishing a question and answer anonymously, direct posts, the ward home's
"Your ward team" and posts with "Show more"."""
from __future__ import annotations

import re

from sqlalchemy import inspect, select

from tests.conftest import HTMX
from webapp.extensions import db
from webapp.posts import WardPost, create_ward_post, ward_posts_page

ST_JAMES = "E05013806"
BRIXTON = "E05014095"


def test_publish_strips_resident_name_and_email(client, login, make_resident, make_staff,
                                                start_conversation, reply):
    resident = make_resident(ST_JAMES, name="Priya Sharma", email_address="priya.sharma@example.org")
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith")
    conv = start_conversation(resident, subject="Priya's question about scooters",
                              body="Hi, I'm Priya Sharma (priya.sharma@example.org, 07700 900123). "
                                   "Are e-scooters legal on Acre Lane?")
    reply(conv, officer, "Thanks Priya. Private e-scooters are not legal on public roads.")
    login(client, officer)
    form = client.get(f"/officer/messages/{conv.id}/publish")
    assert form.status_code == 200
    assert "Priya" not in form.text and "priya.sharma@example.org" not in form.text
    # Even if the officer types the identity back in, it is removed on publishing.
    response = client.post(f"/officer/messages/{conv.id}/publish", data={
        "title": "E-scooters, asked by Priya Sharma",
        "question": "priya.sharma@example.org asks: are e-scooters legal? Call her on 07700 900123",
        "answer": "Thanks PRIYA: private e-scooters are not legal on public roads."})
    assert response.status_code == 303
    post = db.session.scalar(select(WardPost))
    text = " ".join([post.title, post.question, post.body])
    for secret in ("Priya", "PRIYA", "Sharma", "priya.sharma", "07700 900123"):
        assert secret not in text
    assert "e-scooters are not legal" in post.body
    assert post.kind == "answer" and post.ward.code == ST_JAMES
    # No link to the resident or the conversation is stored.
    columns = {c.key for c in inspect(WardPost).columns}
    assert not columns & {"resident_id", "conversation_id", "user_id"}
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Priya" not in page.text and "e-scooters are not legal" in page.text


def test_publish_validation_never_500(client, login, make_resident, make_staff, start_conversation):
    conv = start_conversation(make_resident(ST_JAMES))
    login(client, make_staff("officer", wards=[ST_JAMES]))
    response = client.post(f"/officer/messages/{conv.id}/publish",
                           data={"title": "", "question": "q" * 3000, "answer": ""})
    assert response.status_code == 422
    assert db.session.scalar(select(WardPost)) is None


def test_officer_writes_a_post_directly_only_to_covered_wards(client, login, make_staff):
    officer = make_staff("officer", wards=[ST_JAMES])
    login(client, officer)
    from webapp.wards.services import get_ward
    st_james, brixton = get_ward(ST_JAMES), get_ward(BRIXTON)
    page = client.get("/officer/posts/new").text
    assert "St James" in page and "Brixton" not in page
    refused = client.post("/officer/posts/new", data={"ward": brixton.id, "title": "T", "body": "B"})
    assert refused.status_code == 422
    response = client.post("/officer/posts/new", data={"ward": st_james.id, "title": "Bike marking",
                                                       "body": "Saturday 10am at the library."})
    assert response.status_code == 303
    post = db.session.scalar(select(WardPost))
    assert post.ward_id == st_james.id and post.kind == "post"
    assert post.author_label == officer.officer_label


def test_ward_home_shows_team_and_posts_newest_first_with_show_more(client, login, make_resident,
                                                                    make_staff):
    from datetime import timedelta

    from webapp.platform.timeutil import utcnow
    from webapp.wards.services import get_ward
    ward = get_ward(ST_JAMES)
    # No officers yet: no team section.
    assert "Your ward team" not in client.get(f"/wards/{ST_JAMES}").text
    officer = make_staff("officer", wards=[ST_JAMES], name="Jane Smith", rank="PCSO",
                         shoulder_number="5678")
    base = utcnow() - timedelta(days=30)
    for i in range(8):
        create_ward_post(ward, officer, f"Post number {i}", f"Body {i}", now=base + timedelta(days=i))
    db.session.commit()
    page = client.get(f"/wards/{ST_JAMES}").text
    assert "Your ward team" in page and "PCSO Jane Smith (5678)" in page
    assert "<img" not in page.split("Your ward team")[1].split("</section>")[0]  # photo-free
    shown = re.findall(r"Post number (\d)", page)
    assert shown == ["7", "6", "5", "4", "3"]
    assert f"/wards/{ST_JAMES}/posts?page=2" in page and 'hx-get="' in page
    more = client.get(f"/wards/{ST_JAMES}/posts?page=2", headers=HTMX)
    assert re.findall(r"Post number (\d)", more.text) == ["2", "1", "0"]
    assert "<html" not in more.text and "Show more" not in more.text
    plain = client.get(f"/wards/{ST_JAMES}/posts?page=2")
    assert "<html" in plain.text and "Post number 2" in plain.text
    # Signed-in residents get the link to message their team.
    resident = make_resident(ST_JAMES)
    login(client, resident)
    page = client.get(f"/wards/{ST_JAMES}").text
    assert "Message your ward team" in page
    assert f"/messages?ward={ward.id}" in page


def test_post_page_and_wrong_ward_404(client, make_staff):
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    post = create_ward_post(get_ward(ST_JAMES), officer, "Hello", "Body <script>x</script>")
    db.session.commit()
    page = client.get(f"/wards/{ST_JAMES}/posts/{post.id}")
    assert page.status_code == 200 and "&lt;script&gt;" in page.text
    assert client.get(f"/wards/{BRIXTON}/posts/{post.id}").status_code == 404
    assert client.get("/wards/E05999999/posts").status_code == 404


def test_create_ward_post_interface_for_other_domains(app, make_staff):
    """Meetings (summaries) and alerts call this with a kind of their own."""
    from webapp.wards.services import get_ward
    officer = make_staff("officer", wards=[ST_JAMES])
    post = create_ward_post(get_ward(ST_JAMES), officer, "Meeting summary",
                                     "We agreed to patrol the park.", kind="meeting")
    db.session.commit()
    assert post.id and post.kind == "meeting"
    posts, more = ward_posts_page(get_ward(ST_JAMES))
    assert posts == [post] and not more


def test_demo_seeder_is_idempotent(app):
    from webapp.core.cli import SEEDERS
    from webapp.threads import demo
    from webapp.threads.models import Conversation
    assert SEEDERS.index("webapp.threads.demo:seed") > SEEDERS.index("webapp.accounts.demo:seed")
    first = demo.seed()  # creates the demo staff itself when they are missing
    assert "5 demo conversations and 2 ward posts" in first
    second = demo.seed()
    assert "0 demo conversations and 0 ward posts" in second
    convs = list(db.session.scalars(select(Conversation)))
    assert {c.status for c in convs} == {"answered", "awaiting", "closed"}
    assert {c.ward.code for c in convs} == {"E05013806", "E05014104", "E05014117"}
    assert db.session.query(WardPost).count() == 2


def test_message_link_only_on_my_own_wards(client, login, make_resident, make_staff):
    make_staff("officer", wards=[ST_JAMES, BRIXTON])
    login(client, make_resident(ST_JAMES))
    assert "Message your ward team" in client.get(f"/wards/{ST_JAMES}").text
    other = client.get(f"/wards/{BRIXTON}").text
    assert "Your ward team" in other and "Message your ward team" not in other
