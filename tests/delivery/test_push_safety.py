"""Push endpoints are contacted only at real push services (no SSRF), checked again before
every send; an endpoint cannot be taken from another account; devices per resident are
capped; one slow push service holds up neither its batch nor email."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from tests.support.push_service import FakeUserAgent
from webapp.config import Config
from webapp.delivery import Event, notify
from webapp.delivery.endpoints import endpoint_problem
from webapp.delivery.models import Delivery, PushSubscription
from webapp.delivery.subscriptions import save_subscription, subscriptions_for
from webapp.delivery.worker import deliver_due
from webapp.extensions import db

REFUSED = [
    # loopback, private, link-local (cloud metadata) and unspecified addresses
    "https://127.0.0.1:5432/", "https://127.0.0.1/push/1", "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/push", "https://192.168.1.1/push", "https://0.0.0.0/push",
    # IPv6 literals, mapped IPv4 and zone ids
    "https://[::1]/push", "https://[::ffff:127.0.0.1]/push", "https://[fe80::1%25eth0]/push",
    "https://[2001:db8::1]/push",
    # other spellings of 127.0.0.1 that URL parsers and resolvers accept
    "https://2130706433/push", "https://0x7f000001/push", "https://0x7f.0.0.1/push",
    "https://0177.0.0.1/push", "https://127.1/push", "https://017700000001/push",
    # credentials, or a push service's name in front of another host
    "https://user:pass@fcm.googleapis.com/fcm/send/x", "https://user@fcm.googleapis.com/fcm/send/x",
    "https://fcm.googleapis.com@10.0.0.1/fcm/send/x", "https://fcm.googleapis.com:443@10.0.0.1/x",
    "https://fcm.googleapis.com\\@10.0.0.1/x",
    # ports other than 443, and other schemes
    "https://fcm.googleapis.com:8443/fcm/send/x", "https://fcm.googleapis.com:5432/fcm/send/x",
    "https://fcm.googleapis.com:99999/fcm/send/x", "https://fcm.googleapis.com:0/fcm/send/x",
    "http://fcm.googleapis.com/fcm/send/x", "ftp://fcm.googleapis.com/x", "//fcm.googleapis.com/x",
    "fcm.googleapis.com/fcm/send/x", "https:///fcm/send/x", "https://",
    # hosts that are not push services, or only look like one
    "https://localhost/push", "https://evil.example/fcm/send/x", "https://metadata.google.internal/",
    "https://fcm.googleapis.com.evil.example/x", "https://evilfcm.googleapis.com/x",
    "https://fcm.googleapis.com./fcm/send/x", "https://storage.googleapis.com/bucket/x",
    "https://fcm\u2024googleapis.com/x", "https://xn--fcm-googleapis.com/x",
    # NUL, control characters, spaces, and too long
    "https://fcm.googleapis.com/fcm/send/a\x00b", "https://fcm.googleapis.com/fcm/send/a\nb",
    "https://fcm.googleapis.com/fcm/send/a b", "https://fcm.googleapis.com\x00.evil.example/x",
    "https://fcm.googleapis.com/fcm/send/" + "a" * 1000,
]

ACCEPTED = [
    "https://fcm.googleapis.com/fcm/send/dZ9Qk3:APA91bH",  # Chrome (FCM)
    "https://fcm.googleapis.com/wp/dZ9Qk3:APA91bH",
    "https://android.googleapis.com/gcm/send/dZ9Qk3",  # older Chrome subscriptions
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",  # Firefox (autopush)
    "https://web.push.apple.com/QGuQyavXutnMH",  # Safari
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",  # Edge (WNS)
    "https://FCM.googleapis.com:443/fcm/send/abc",
]


def default_config() -> dict:
    """The settings a deployment gets without configuring anything."""
    return {name: getattr(Config, name) for name in dir(Config) if name.isupper()}


def agent_for(endpoint: str) -> dict:
    return FakeUserAgent(endpoint).subscription


@pytest.mark.parametrize("endpoint", REFUSED)
def test_subscribing_refuses_endpoints_that_are_not_push_services(app, client, login, make_resident,
                                                                  endpoint, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOOPBACK_FOR_TESTS", False)  # the default
    resident = make_resident()
    login(client, resident)
    response = client.post("/push/subscriptions", json=agent_for(endpoint))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "endpoint" in response.get_json()["error"]
    assert endpoint_problem(endpoint, default_config())
    db.session.expire_all()
    assert subscriptions_for(resident) == []


@pytest.mark.parametrize("endpoint", ACCEPTED)
def test_subscribing_accepts_the_browsers_push_services(client, login, make_resident, endpoint):
    resident = make_resident()
    login(client, resident)
    assert endpoint_problem(endpoint, default_config()) is None
    assert client.post("/push/subscriptions", json=agent_for(endpoint)).status_code == 201
    assert [s.endpoint for s in subscriptions_for(resident)] == [endpoint]


def test_the_default_config_refuses_the_loopback_push_service(app, client, login, make_resident,
                                                               push_service, monkeypatch):
    """Only the test suite's explicit setting lets the loopback push service in."""
    agent = push_service.agent()
    assert Config.PUSH_ALLOW_LOOPBACK_FOR_TESTS is False
    assert endpoint_problem(agent.endpoint, default_config())
    resident = make_resident()
    login(client, resident)
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOOPBACK_FOR_TESTS", False)
    assert client.post("/push/subscriptions", json=agent.subscription).status_code == 400
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOOPBACK_FOR_TESTS", True)
    assert client.post("/push/subscriptions", json=agent.subscription).status_code == 201


def test_the_allow_list_is_configurable(app, client, login, make_resident, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_ENDPOINT_HOSTS", "push.example.net")
    monkeypatch.setitem(app.config, "PUSH_ENDPOINT_PORTS", "443,8443")
    resident = make_resident()
    login(client, resident)
    assert client.post("/push/subscriptions",
                       json=agent_for("https://eu.push.example.net:8443/s/1")).status_code == 201
    assert client.post("/push/subscriptions",
                       json=agent_for("https://fcm.googleapis.com/fcm/send/1")).status_code == 400


# --------------------------------------------------------------------------- the worker
def store_device(user, endpoint: str) -> None:
    """A subscription row written directly, as one saved before the rules (or the
    allow-list) changed would be."""
    keys = agent_for(endpoint)["keys"]
    db.session.add(PushSubscription(user_id=user.id, endpoint=endpoint, p256dh=keys["p256dh"],
                                    auth=keys["auth"]))
    db.session.commit()


def reply(n: int = 1) -> Event:
    return Event(kind="reply", source_type="message", source_id=n, title="PC Smith replied",
                 body="Thanks", url=f"/messages/{n}")


def test_worker_never_contacts_an_endpoint_no_longer_allowed(app, make_resident, push_service,
                                                              monkeypatch):
    """Checked again before every send: the loopback service, once not allowed, gets
    nothing; the delivery is dead with the reason and the device is kept (no oracle)."""
    resident = make_resident(email_frequency="off")
    agent = push_service.agent()
    save_subscription(resident, agent.subscription)
    notify(resident, reply())
    db.session.commit()
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOOPBACK_FOR_TESTS", False)
    result = deliver_due()
    assert result["dead"] == 1 and result["sent"] == 0
    time.sleep(0.2)
    assert push_service.received == []
    db.session.expire_all()
    [delivery] = db.session.scalars(select(Delivery)).all()
    assert delivery.state == "dead" and "not sent" in delivery.last_error
    assert len(subscriptions_for(resident)) == 1


@pytest.mark.parametrize("endpoint", ["https://169.254.169.254/latest/meta-data/",
                                      "https://[::1]:5432/", "https://2130706433/x",
                                      "https://u:p@fcm.googleapis.com/fcm/send/x"])
def test_worker_refuses_stored_endpoints_of_any_refused_form(app, make_resident, endpoint,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOOPBACK_FOR_TESTS", False)  # the default
    resident = make_resident(email_frequency="off")
    store_device(resident, endpoint)
    notify(resident, reply())
    db.session.commit()
    started = time.monotonic()
    assert deliver_due()["dead"] == 1
    assert time.monotonic() - started < 2  # no connection was attempted
    db.session.expire_all()
    delivery = db.session.scalars(select(Delivery)).one()
    assert delivery.state == "dead" and delivery.last_error.startswith("not sent: endpoint")


# --------------------------------------------------------------------------- ownership, cap
def test_an_endpoint_of_another_account_is_refused_without_saying_whose(
        client, login, make_resident):
    owner = make_resident(name="Priya Owner", email_address="priya.owner@example.org")
    sub = agent_for("https://fcm.googleapis.com/fcm/send/shared-1")
    save_subscription(owner, sub)
    db.session.commit()
    thief = make_resident()
    login(client, thief)
    response = client.post("/push/subscriptions", json=sub)
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "Priya" not in text and "priya.owner" not in text and str(owner.id) not in text
    db.session.expire_all()
    assert [s.endpoint for s in subscriptions_for(owner)] == [sub["endpoint"]]
    assert subscriptions_for(thief) == []
    # The owner may still refresh their own subscription (new keys, same endpoint).
    login(client, owner)
    assert client.post("/push/subscriptions", json=sub).status_code == 201


def test_devices_per_resident_are_capped_and_the_oldest_replaced(app, client, login,
                                                                  make_resident, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_MAX_DEVICES", 3)
    resident = make_resident()
    login(client, resident)
    endpoints = [f"https://fcm.googleapis.com/fcm/send/device-{n}" for n in range(5)]
    for endpoint in endpoints:
        assert client.post("/push/subscriptions", json=agent_for(endpoint)).status_code == 201
    db.session.expire_all()
    assert [s.endpoint for s in subscriptions_for(resident)] == endpoints[:1:-1]
    assert Config.PUSH_MAX_DEVICES == 10


# --------------------------------------------------------------------------- slow services
def test_a_slow_push_service_holds_up_neither_its_batch_nor_email(app, make_resident, mail,
                                                                  push_service, monkeypatch):
    monkeypatch.setitem(app.config, "PUSH_BATCH_DEADLINE", 1.0)
    fast_user, slow_user = make_resident(), make_resident()
    fast = push_service.agent()
    slow = push_service.agent()
    save_subscription(fast_user, fast.subscription)
    save_subscription(slow_user, slow.subscription)
    push_service.delay(slow, 4)
    notify(fast_user, reply(1))
    notify(slow_user, reply(2))
    db.session.commit()

    results = []

    def work():
        with app.app_context():
            results.append(deliver_due())
            db.session.remove()

    started = time.monotonic()
    worker = threading.Thread(target=work)
    worker.start()
    mail.wait_for(2, timeout=0.9)  # the emails went out before the push deadline
    worker.join(10)
    took = time.monotonic() - started
    assert took < 3, took  # the batch ended at its deadline, not the slow answer (4 s)
    assert results[0]["sent"] == 3 and results[0]["retry"] == 1
    db.session.expire_all()
    waiting = db.session.scalars(select(Delivery).where(Delivery.state == "queued")).all()
    assert [d.user_id for d in waiting] == [slow_user.id]
    assert "deadline" in waiting[0].last_error
    assert [r["path"] for r in push_service.received] == [fast.endpoint[len(push_service.url):]]


@pytest.mark.parametrize("endpoint", ["https://fcm.googleapis.com/fcm/send/a\x00b",
                                      "https://fcm.googleapis.com\x00/fcm/send/a",
                                      "\x00https://fcm.googleapis.com/fcm/send/a"])
def test_a_nul_in_a_push_endpoint_is_never_a_500(client, login, make_resident, endpoint):
    """With well-formed keys, so the endpoint itself is what reaches the checks (PostgreSQL
    refuses NUL in text: before, saving it was a 500 there)."""
    resident = make_resident()
    login(client, resident)
    sub = agent_for(endpoint)
    assert client.post("/push/subscriptions", json=sub).status_code == 400
    assert client.post("/push/subscriptions/check", json={"endpoint": endpoint}).status_code == 200
    assert client.delete("/push/subscriptions", json={"endpoint": endpoint}).status_code == 400
    good = agent_for("https://fcm.googleapis.com/fcm/send/good")
    assert client.post("/push/subscriptions",
                       json={**good, "oldEndpoint": endpoint}).status_code == 201
    db.session.expire_all()
    assert [s.endpoint for s in subscriptions_for(resident)] == [good["endpoint"]]


def test_the_endpoint_check_finds_the_scheme_and_host_urlsplit_would():
    """The worker's check reads an endpoint's scheme and host part with one pattern, not
    urlsplit() (a fifth of the cost, for every push): on every form tried here they agree,
    and where urlsplit refuses one (an unclosed IPv6 bracket) the check does too."""
    from urllib.parse import urlsplit

    from webapp.delivery.endpoints import _SPLIT
    forms = [*REFUSED, *ACCEPTED, "HTTPS://A.b:443/x?y#z", "https:foo", "foo", "1https://x/",
             "mailto:x@y", "https://a.b?c", "https://a.b#c", "a+b.c-d://host:1/p",
             "https://a.b;c/d", "https://a.b:/x", "https://%66cm.googleapis.com/x"]
    for endpoint in forms:
        try:
            parts = urlsplit(endpoint)
        except ValueError:
            assert endpoint_problem(endpoint, default_config()) is not None, endpoint
            continue
        scheme, netloc = _SPLIT.match(endpoint).groups(default="")
        assert (scheme.lower(), netloc) == (parts.scheme, parts.netloc), endpoint
    for broken in ("https://[::1/push", "https://::1]/push"):
        assert endpoint_problem(broken, default_config()) == "endpoint is not a valid URL"
