"""Sign-in rate limits count links sent, not mistakes: a blank box is told "Enter your email
address" and costs nothing, and a room signing up on one Wi-Fi is not locked out."""
from webapp.extensions import db
from webapp.accounts.models import User

from tests.accounts.helpers import signin_path


def test_blank_and_invalid_posts_do_not_count(client, mail, monkeypatch, app):
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_EMAIL", "2/hour")
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_IP", "3/hour")
    for _ in range(10):
        response = client.post("/signup", data={"email": "", "display_name": "Priya"})
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Enter your email address" in body and 'value="Priya"' in body  # name kept
        response = client.post("/login", data={"email": "not an address"})
        assert response.status_code == 422 and "Enter an email address like" in response.get_data(as_text=True)
    # Nothing was counted: three real requests still go through from this IP.
    for n in range(3):
        response = client.post("/signup", data={"email": f"p{n}@example.org", "display_name": "P"})
        assert response.status_code == 303
    assert len(mail.wait_for(3)) == 3
    assert client.post("/signup", data={"email": "p9@example.org", "display_name": "P"}).status_code == 429


def test_a_room_on_one_wifi_gets_a_higher_limit_after_sign_ins(client, mail, monkeypatch, app):
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_IP", "3/hour")
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT_PER_BUSY_IP", "8/hour")
    for n in range(3):
        assert client.post("/signup", data={"email": f"room{n}@example.org",
                                            "display_name": f"R{n}"}).status_code == 303
    assert client.post("/signup", data={"email": "room3@example.org",
                                        "display_name": "R3"}).status_code == 429
    # One of them follows their link on the same Wi-Fi: the address is now a busy room.
    path = signin_path(mail.wait_for(3)[0])
    other = app.test_client()
    assert other.post(path).status_code == 303
    assert db.session.query(User).filter(User.confirmed_at.isnot(None)).count() == 1
    statuses = [client.post("/signup", data={"email": f"room{n}@example.org",
                                             "display_name": f"R{n}"}).status_code
                for n in range(3, 12)]
    # The busy limit is a bucket of its own: 8 more an hour.
    assert statuses == [303] * 8 + [429]
