"""The push messages' encryption (``webapp.delivery.push.encrypt``: RFC 8291 with the
``cryptography`` calls alone), checked against the browser side: ``http_ece`` decrypting
with the subscription's private key (``tests/support/push_service.py``)."""
from __future__ import annotations

import os
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.push_service import FakeUserAgent, b64u
from webapp.delivery.push import PushClient, encrypt, prepare
from webapp.delivery.push_async import AsyncPushClient
from webapp.delivery.subscriptions import vapid


@pytest.mark.parametrize("size", [1, 100, 3800, 3993])
def test_each_message_is_rfc8291_aes128gcm_that_the_browser_decrypts(size):
    agent = FakeUserAgent("https://fcm.googleapis.com/fcm/send/x")
    data = os.urandom(size)
    body = encrypt(agent.subscription, data)
    assert agent.decrypt(body) == data
    # RFC 8188 header: salt (16), record size, key id length, key id = the sender's
    # ephemeral public key (an uncompressed P-256 point); then one record.
    salt, record_size, id_length = body[:16], *struct.unpack("!LB", body[16:21])
    assert (record_size, id_length) == (4096, 65)
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), body[21:86])
    assert len(body) == 86 + size + 1 + 16 <= 4096  # the delimiter and GCM's tag
    # A fresh salt and ephemeral key for every message, even the same one to the same device.
    again = encrypt(agent.subscription, data)
    assert again[:16] != salt and again[21:86] != body[21:86]
    assert agent.decrypt(again) == data


def test_a_message_too_long_for_one_record_is_refused():
    agent = FakeUserAgent("https://fcm.googleapis.com/fcm/send/x")
    with pytest.raises(ValueError):
        encrypt(agent.subscription, b"x" * 3994)


@pytest.mark.parametrize("keys", [
    {"p256dh": b64u(b"\x04" + b"\x01" * 64), "auth": b64u(os.urandom(16))},  # not on the curve
    {"p256dh": b64u(os.urandom(33)), "auth": b64u(os.urandom(16))},  # compressed/short
    {"p256dh": None, "auth": b64u(os.urandom(16))},
    {"auth": b64u(os.urandom(16))},
], ids=["off-curve", "short", "none", "missing"])
def test_keys_no_browser_would_give_fail_the_message_not_the_batch(app, keys):
    subscription = {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": keys}
    result = prepare(subscription, '{"title":"x"}', "normal", None, 60)
    assert result.status == "failed" and result.error


@pytest.mark.parametrize("kind", [PushClient, AsyncPushClient], ids=["threads", "asyncio"])
def test_a_device_with_bad_keys_is_never_contacted_and_the_rest_are_sent(app, push_service,
                                                                        kind):
    good, bad = push_service.agent(), push_service.agent()
    bad.subscription["keys"]["auth"] = b64u(b"short")
    client = kind(vapid(), "mailto:test@wardline.example", timeout=5)
    try:
        results = client.send_many([(bad.subscription, '{"title":"x"}'),
                                    (good.subscription, '{"title":"y"}')], deadline=10)
    finally:
        client.close()
    assert [r.status for r in results] == ["failed", "sent"]
    assert [m["endpoint"] for m in push_service.messages()] == [good.endpoint]
    assert push_service.messages()[0]["payload"] == {"title": "y"}
