"""The headers and HTML of every kind of email, as received by a real SMTP server, and
their DKIM signature verified with dkimpy against the public key."""
from __future__ import annotations

import base64
import html as html_lib
import email
import email.policy
import re
import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.sample_emails import KINDS, send_every_kind

MAIL_FROM = "Wardline <no-reply@mail.wardline.example>"
BULK = {"alert", "digest", "meeting_invite", "meeting_update", "meeting_reminder",
        "waitlist_promoted", "meeting_confirmed", "meeting_summary", "meeting_cancelled", "reply", "officer_digest"}


@pytest.fixture
def mail_from(app):
    old = app.config["MAIL_FROM"]
    app.config["MAIL_FROM"] = MAIL_FROM
    yield MAIL_FROM
    app.config["MAIL_FROM"] = old


@pytest.fixture
def dkim_key(app, tmp_path):
    """A fresh RSA key configured for DKIM (key file), and its DNS TXT record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    app.config.update(DKIM_SELECTOR="wl2026", DKIM_PRIVATE_KEY_PATH=str(path))
    yield b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    app.config.update(DKIM_SELECTOR=None, DKIM_PRIVATE_KEY_PATH=None)


def _received(mail, to: dict) -> dict:
    """{kind: (parsed message, raw bytes)} of what the SMTP server received."""
    mail.wait_for(len(KINDS), timeout=10)
    found = {}
    for raw in mail.raw:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for kind, subject in KINDS.items():
            if msg["Subject"].startswith(subject) and msg["To"] == to[kind]:
                found[kind] = (msg, raw)
    assert set(found) == set(KINDS), [(m["Subject"], m["To"]) for m in mail.messages]
    return found


def test_every_kind_of_email_has_a_title_a_utc_date_and_our_message_id(app, mail, mail_from):
    found = _received(mail, send_every_kind())
    for kind, (msg, _raw) in found.items():
        assert msg["Date"].endswith(" +0000"), (kind, msg["Date"])
        assert re.fullmatch(r"<[^@<>\s]+@mail\.wardline\.example>", msg["Message-ID"]), kind
        html = msg.get_body(("html",)).get_content()
        title = re.search(r"<title>([^<]+)</title>", html)
        assert title and html_lib.unescape(title.group(1).strip()) == msg["Subject"], kind
        assert msg.get_body(("plain",)).get_content().strip(), kind
        assert "DKIM-Signature" not in msg  # no key configured
        if kind in BULK:
            assert re.fullmatch(r"Wardline [a-z ]+ <[a-z-]+\.mail\.wardline\.example>",
                                msg["List-Id"]), (kind, msg["List-Id"])
            assert msg["List-Unsubscribe"].startswith("<http://wardline.test/unsubscribe/")
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        else:  # personal, transactional: no list, no unsubscribe
            assert msg["List-Id"] is None and msg["List-Unsubscribe"] is None, kind
    ids = {kind: found[kind][0]["List-Id"] for kind in BULK}
    assert ids["alert"] != ids["digest"] != ids["meeting_invite"]
    assert ids["meeting_invite"] == ids["meeting_cancelled"] == ids["waitlist_promoted"]


def test_every_email_is_dkim_signed_over_the_one_click_headers(app, mail, mail_from, dkim_key):
    found = _received(mail, send_every_kind())

    def dns(name, timeout=5):
        assert name == b"wl2026._domainkey.mail.wardline.example."
        return dkim_key

    for kind, (msg, raw) in found.items():
        assert dkim.verify(raw, dnsfunc=dns), kind
        tags = dict(part.strip().split("=", 1) for part in
                    re.sub(r"\s+", "", str(msg["DKIM-Signature"])).split(";") if part)
        assert tags["d"] == "mail.wardline.example" and tags["s"] == "wl2026"
        signed = tags["h"].lower().split(":")
        assert {"from", "to", "subject", "date", "message-id"} <= set(signed), kind
        if kind in BULK:
            assert {"list-id", "list-unsubscribe", "list-unsubscribe-post"} <= set(signed)
            # Signed once more than present: a second List-Unsubscribe breaks the signature.
            assert signed.count("list-unsubscribe") == 2
            tampered = raw.replace(b"\r\nList-Unsubscribe:",
                                   b"\r\nList-Unsubscribe: <https://evil.example/>\r\n"
                                   b"List-Unsubscribe:", 1)
            assert not dkim.verify(tampered, dnsfunc=dns), kind
        # Changing the body breaks it too.
        head, blank, body = raw.partition(b"\r\n\r\n")
        assert not dkim.verify(head + blank + b"Changed.\r\n" + body, dnsfunc=dns), kind


def test_dkim_key_from_the_environment_setting(app, mail, mail_from, dkim_key):
    path, app.config["DKIM_PRIVATE_KEY_PATH"] = app.config["DKIM_PRIVATE_KEY_PATH"], None
    with open(path, "rb") as handle:
        app.config["DKIM_PRIVATE_KEY"] = handle.read().decode()
    try:
        from webapp.platform.mail import send_email
        send_email("someone@example.org", "Hello", "accounts/no_account", signup_url="x")
        [raw] = mail.wait_for(1) and mail.raw
        assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: dkim_key)
    finally:
        app.config["DKIM_PRIVATE_KEY"] = None
        app.config["DKIM_PRIVATE_KEY_PATH"] = path


def test_a_key_that_is_not_a_private_key_is_refused_clearly(app, mail_from, tmp_path):
    from webapp.platform.mail import DKIMSigner
    assert DKIMSigner.from_config(app.config) is None  # no key: no signing
    path = tmp_path / "dkim.pem"
    path.write_text("not a key")
    config = dict(app.config, DKIM_SELECTOR="s1", DKIM_PRIVATE_KEY_PATH=str(path))
    with pytest.raises(ValueError, match="DKIM_PRIVATE_KEY"):
        DKIMSigner.from_config(config)
