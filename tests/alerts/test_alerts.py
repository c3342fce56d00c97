"""Alerts: targeting (exactly the right residents, each once, on the right channels), the
audience preview, sending now or on schedule, urgent alerts, officer scope, the public
alert page, usefulness answers and per-alert stats."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.alerts.models import Alert, AlertAnswer
from webapp.alerts.services import (AlertInput, NotAllowed, alert_stats, audience_counts,
                                    create_alert, fan_out, render_body, resolve_target, send_alert,
                                    send_due_alerts)
from webapp.delivery.models import Delivery
from webapp.delivery.subscriptions import save_subscription
from webapp.delivery.worker import deliver_due
from webapp.extensions import db
from webapp.platform.timeutil import to_london, utcnow
from webapp.wards.services import get_ward
from tests.conftest import run_at_once

A, B = "E05013806", "E05013792"      # St James's, Abbey Road (Westminster)
C = "E05009288"                      # Aldersgate (City of London): not covered


def ward_id(code):
    return get_ward(code).id


def deliveries():
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def alert_input(target, **kw):
    return AlertInput(**{"title": "Phone snatches on Railton Road",
                         "body": "Keep your phone out of sight. See https://met.police.uk/phones",
                         "category": "prevention", "channels": ["email", "push"],
                         "target": target, **kw})


# --------------------------------------------------------------------------- the matrix
@pytest.fixture
def population(app, make_resident, push_service):
    """Residents across wards A, B, C × category × email frequency, most with push devices,
    plus one who follows both A and B (must be reached once)."""
    people = []
    for home in (A, B, C):
        for cats in (("prevention",), ("events",)):
            for freq in ("immediate", "digest", "off"):
                user = make_resident(home, categories=cats, email_frequency=freq)
                devices = 2 if freq == "digest" else (1 if freq == "immediate" else 0)
                for _ in range(devices):
                    save_subscription(user, push_service.agent().subscription)
                db.session.commit()
                people.append((user, {home}, set(cats), freq, devices))
    both = make_resident(A, extra_wards=(B,), categories=("prevention", "events"))
    save_subscription(both, push_service.agent().subscription)
    db.session.commit()
    people.append((both, {A, B}, {"prevention", "events"}, "immediate", 1))
    return people


def expected_rows(people, wards, category, channels, urgent):
    rows = set()
    for user, followed, cats, freq, devices in people:
        if not (followed & set(wards)) or category not in cats:
            continue
        if "email" in channels and freq != "off":
            rows.add((user.id, "email" if freq == "immediate" or urgent else "digest"))
        if "push" in channels:
            rows |= {(user.id, f"push{i}") for i in range(devices)}
    return rows


@pytest.mark.parametrize("wards", [[A], [B], [A, B]], ids=["A", "B", "A+B"])
@pytest.mark.parametrize("category", ["prevention", "events"])
@pytest.mark.parametrize("channels", [["email"], ["push"], ["email", "push"]],
                         ids=["email", "push", "both"])
@pytest.mark.parametrize("urgent", [False, True], ids=["normal", "urgent"])
def test_targeting_matrix(app, make_staff, population, wards, category, channels, urgent):
    officer = make_staff("officer", wards=[A, B])
    target = resolve_target(officer, "wards", [ward_id(w) for w in wards])
    preview = audience_counts(target.ward_ids, category, channels, urgent)
    create_alert(officer, alert_input(target, category=category, channels=channels,
                                      urgent=urgent))
    db.session.commit()
    got, per_user_push = set(), {}
    for d in deliveries():
        if d.channel == "push":
            per_user_push.setdefault(d.user_id, []).append(d.device_id)
            got.add((d.user_id, f"push{len(per_user_push[d.user_id]) - 1}"))
        else:
            assert (d.user_id, d.channel) not in got, "a resident got two emails"
            got.add((d.user_id, d.channel))
    assert got == expected_rows(population, wards, category, channels, urgent)
    for devices in per_user_push.values():
        assert len(devices) == len(set(devices))
    # The preview counted exactly what the fan-out wrote.
    email_rows = [r for r in got if r[1] == "email"]
    digest_rows = [r for r in got if r[1] == "digest"]
    push_rows = [r for r in got if r[1].startswith("push")]
    assert (preview.email_now, preview.digest, preview.push_devices) == \
        (len(email_rows), len(digest_rows), len(push_rows))
    assert preview.push_residents == len({u for u, _ in push_rows})
    reached = {u for u, f, c, _, _ in population if f & set(wards) and category in c}
    assert preview.residents == len(reached)


def test_repeated_send_creates_no_new_deliveries(app, make_staff, population):
    officer = make_staff("officer", wards=[A, B])
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards",
                                                             [ward_id(A), ward_id(B)])))
    db.session.commit()
    before = len(deliveries())
    assert before > 0
    assert send_alert(alert.id) == 0          # already sent: the conditional UPDATE refuses
    assert fan_out(alert, utcnow()) == 0      # even a forced second fan-out adds nothing
    db.session.commit()
    assert len(deliveries()) == before


def test_alert_reaches_inboxes_and_devices_end_to_end(app, client, login, make_staff,
                                                      make_resident, mail, push_service):
    from webapp.delivery.subscriptions import vapid_public_key
    officer = make_staff("officer", wards=[A])
    near = make_resident(A, categories=("prevention",))
    agent = push_service.agent()
    save_subscription(near, agent.subscription)
    db.session.commit()
    make_resident(A, categories=("events",))   # other category: nothing
    make_resident(C, categories=("prevention",))  # other ward: nothing
    login(client, officer)
    response = client.post("/officer/alerts/new", data={
        "title": "Phone snatches", "body": "Keep it **hidden**", "category": "prevention",
        "scope": "wards", "wards": [str(ward_id(A))], "channels": ["email", "push"],
        "when": "now"})
    assert response.status_code == 303
    deliver_due()
    [msg] = mail.wait_for(1)
    assert msg["To"] == near.email and msg["Subject"] == "Phone snatches"
    assert "<strong>hidden</strong>" in msg.get_body(("html",)).get_content()
    [push] = push_service.messages(expected_key=vapid_public_key())
    assert push["endpoint"] == agent.endpoint
    alert = db.session.scalar(select(Alert))
    assert push["payload"] == {"title": "Phone snatches", "body": "Keep it **hidden**",
                               "url": f"/alerts/{alert.id}", "tag": f"alert-{alert.id}"}


# --------------------------------------------------------------------------- compose and scope
def form_data(**kw):
    data = {"title": "Bike marking on Saturday", "body": "Bring your bike.",
            "category": "events", "scope": "wards", "channels": ["email", "push"], "when": "now"}
    data.update(kw)
    return data


def test_compose_page_and_preview_numbers_match_the_fan_out(app, client, login, make_staff,
                                                             population, htmx_headers):
    officer = make_staff("officer", wards=[A, B])
    login(client, officer)
    page = client.get("/officer/alerts/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'hx-post="/officer/alerts/preview"' in html and "not-for-crime" in html
    assert "All of London" not in html  # officers cannot pick London
    data = form_data(wards=[str(ward_id(A)), str(ward_id(B))], category="prevention")
    preview = client.post("/officer/alerts/preview", data=data, headers=htmx_headers)
    text = " ".join(preview.get_data(as_text=True).split())
    numbers = re.search(r"Reaches ([\d,]+) residents?</strong>:</p> <ul class=\"preview-list\"> "
                        r"<li>([\d,]+) by email now and ([\d,]+) in their daily digest</li> "
                        r"<li>([\d,]+) as a notification on their phone or computer "
                        r"\(([\d,]+) devices?\)</li>", text)
    assert numbers, text
    residents, email_now, digest, push_people, devices = (int(n.replace(",", ""))
                                                          for n in numbers.groups())
    assert client.post("/officer/alerts/new", data=data).status_code == 303
    rows = deliveries()
    assert email_now == sum(d.channel == "email" for d in rows)
    assert digest == sum(d.channel == "digest" for d in rows)
    assert devices == sum(d.channel == "push" for d in rows)
    assert push_people == len({d.user_id for d in rows if d.channel == "push"})
    assert residents == 7  # 2 prevention residents per frequency in A and B, + the A+B one
    # Without JavaScript the same preview comes back in the page.
    page = client.post("/officer/alerts/new", data=dict(data, action="preview"))
    assert page.status_code == 200 and f"Reaches {residents} residents" in page.get_data(as_text=True)


def test_officer_cannot_target_wards_they_do_not_cover(app, client, login, make_staff,
                                                       make_resident, htmx_headers):
    officer = make_staff("officer", wards=[A])
    make_resident(C)
    login(client, officer)
    for data in (form_data(wards=[str(ward_id(C))]),
                 form_data(wards=[str(ward_id(A)), str(ward_id(C))]),
                 form_data(scope="borough", borough=str(get_ward(C).borough_id)),
                 form_data(scope="london")):
        response = client.post("/officer/alerts/new", data=data)
        assert response.status_code in (403, 422), data
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    assert client.post("/officer/alerts/preview", data=form_data(wards=[str(ward_id(C))]),
                       headers=htmx_headers).status_code == 403
    with pytest.raises(NotAllowed):
        resolve_target(officer, "wards", [ward_id(C)])
    with pytest.raises(NotAllowed):
        resolve_target(officer, "london")


def test_borough_and_london_targets(app, make_staff):
    officer = make_staff("officer", wards=[A, B])
    borough = resolve_target(officer, "borough", borough_id=get_ward(A).borough_id)
    assert set(borough.ward_ids) == {ward_id(A), ward_id(B)}  # only the wards they cover
    admin = make_staff("admin")
    london = resolve_target(admin, "london")
    assert len(london.ward_ids) > 600
    whole = resolve_target(admin, "borough", borough_id=get_ward(A).borough_id)
    assert len(whole.ward_ids) == 18


def test_residents_and_signed_out_cannot_compose(app, client, login, make_resident):
    assert client.get("/officer/alerts/new").status_code in (302, 303)
    login(client, make_resident())
    assert client.get("/officer/alerts/new").status_code == 403
    assert client.post("/officer/alerts/preview", data=form_data()).status_code == 403


def test_validation_errors_rerender_with_422(app, client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    response = client.post("/officer/alerts/new",
                           data=form_data(title="x" * 121, wards=[str(ward_id(A))]))
    assert response.status_code == 422
    response = client.post("/officer/alerts/new", data=form_data(wards=[]))
    assert response.status_code == 422 and "Choose at least one ward" in response.get_data(as_text=True)


def test_body_is_rendered_and_sanitised():
    html = render_body("**Bold** and *it* https://met.police.uk/x.\n\n- one\n- two\n\n"
                       "<script>alert(1)</script> [bad](javascript:alert(1)) # not a heading")
    assert "<strong>Bold</strong>" in html and "<em>it</em>" in html
    assert '<a href="https://met.police.uk/x" rel="noopener nofollow">' in html
    assert "<ul>" in html and "<li>one</li>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="javascript' not in html


# --------------------------------------------------------------------------- urgent
def test_urgent_needs_confirmation_is_audited_and_reaches_digest_choosers_now(
        app, client, login, make_staff, make_resident, mail):
    from webapp.platform.audit import AuditEvent
    officer = make_staff("officer", wards=[A])
    digest_user = make_resident(A, categories=("appeals",), email_frequency="digest")
    login(client, officer)
    data = form_data(category="appeals", wards=[str(ward_id(A))], urgent="y")
    response = client.post("/officer/alerts/new", data=data)
    assert response.status_code == 422 and "confirm" in response.get_data(as_text=True)
    assert client.post("/officer/alerts/new",
                       data=dict(data, urgent_confirm="y")).status_code == 303
    alert = db.session.scalar(select(Alert))
    assert alert.urgent
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.urgent",
                                                      AuditEvent.target_id == alert.id))
    [row] = deliveries()
    assert row.channel == "email"
    deliver_due()
    assert mail.wait_for(1)[0]["To"] == digest_user.email


def test_non_urgent_alert_waits_for_the_digest(app, make_staff, make_resident, mail):
    from webapp.delivery.digest import send_digests
    officer = make_staff("officer", wards=[A])
    user = make_resident(A, email_frequency="digest")
    create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)]),
                                      title="First"))
    db.session.commit()
    create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)]),
                                      title="Second"))
    db.session.commit()
    assert deliver_due()["claimed"] == 0
    tomorrow_seven = utcnow() + timedelta(days=1)
    local = to_london(tomorrow_seven).replace(hour=7, minute=5)
    from webapp.platform.timeutil import london_to_utc
    at = london_to_utc(local.replace(tzinfo=None))
    assert send_digests(now=at) == 1
    deliver_due(now=at)
    [msg] = mail.wait_for(1)
    assert msg["To"] == user.email
    text = msg.get_body(("plain",)).get_content()
    assert "First" in text and "Second" in text


# --------------------------------------------------------------------------- scheduling
def london_form_time(delta):
    return to_london(utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


def test_schedule_edit_cancel_and_send_when_due(app, client, login, make_staff, make_resident,
                                                mail):
    officer = make_staff("officer", wards=[A])
    resident = make_resident(A)
    login(client, officer)
    later = form_data(wards=[str(ward_id(A))], when="later",
                      send_at=london_form_time(timedelta(hours=2)))
    assert client.post("/officer/alerts/new", data=later).status_code == 303
    alert = db.session.scalar(select(Alert))
    assert alert.state == "scheduled" and deliveries() == []
    assert abs((alert.send_at - (utcnow() + timedelta(hours=2))).total_seconds()) < 120
    # Edit while scheduled.
    assert client.get(f"/officer/alerts/{alert.id}/edit").status_code == 200
    response = client.post(f"/officer/alerts/{alert.id}/edit",
                           data=dict(later, title="Bike marking moved to Sunday"))
    assert response.status_code == 303
    db.session.refresh(alert)
    assert alert.title == "Bike marking moved to Sunday"
    assert send_due_alerts(now=utcnow() + timedelta(hours=1)) == 0
    due = utcnow() + timedelta(hours=3)
    assert send_due_alerts(now=due) == 1
    db.session.refresh(alert)
    assert alert.state == "sent"
    deliver_due(now=due)
    assert mail.wait_for(1)[0]["Subject"] == "Bike marking moved to Sunday"
    assert mail.messages[0]["To"] == resident.email
    # Once sent it can no longer be changed or cancelled.
    client.post(f"/officer/alerts/{alert.id}/edit", data=dict(later, title="Too late"))
    client.post(f"/officer/alerts/{alert.id}/cancel")
    db.session.refresh(alert)
    assert alert.title == "Bike marking moved to Sunday" and alert.state == "sent"


def test_cancelled_alert_is_never_sent(app, client, login, make_staff, make_resident):
    officer = make_staff("officer", wards=[A])
    make_resident(A)
    login(client, officer)
    client.post("/officer/alerts/new", data=form_data(
        wards=[str(ward_id(A))], when="later", send_at=london_form_time(timedelta(hours=1))))
    alert = db.session.scalar(select(Alert))
    assert client.post(f"/officer/alerts/{alert.id}/cancel").status_code == 303
    assert send_due_alerts(now=utcnow() + timedelta(hours=2)) == 0
    db.session.refresh(alert)
    assert alert.state == "cancelled" and deliveries() == []


def test_schedule_in_the_past_is_refused(app, client, login, make_staff):
    login(client, make_staff("officer", wards=[A]))
    response = client.post("/officer/alerts/new", data=form_data(
        wards=[str(ward_id(A))], when="later", send_at=london_form_time(-timedelta(hours=1))))
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_two_schedulers_running_at_once_send_once(app, make_staff, make_resident, mail):
    officer = make_staff("officer", wards=[A])
    users = [make_resident(A) for _ in range(4)]
    target = resolve_target(officer, "wards", [ward_id(A)])
    for n in range(3):
        create_alert(officer, alert_input(target, title=f"Scheduled {n}",
                                          send_at=utcnow() + timedelta(minutes=5)))
        db.session.commit()
    due = utcnow() + timedelta(minutes=6)
    results = run_at_once(app, lambda: send_due_alerts(now=due))
    assert sum(results) == 3  # each alert sent by exactly one of the two
    assert len(deliveries()) == 3 * len(users)
    while deliver_due(now=due)["claimed"]:
        pass
    mail.wait_for(12)
    assert len(mail.messages) == 12
    assert sorted((m["To"], m["Subject"]) for m in mail.messages) == sorted(
        (u.email, f"Scheduled {n}") for u in users for n in range(3))


# --------------------------------------------------------------------------- residents
def test_alert_page_is_public_once_sent_and_in_the_ward_feed(app, client, make_staff):
    officer = make_staff("officer", wards=[A])
    target = resolve_target(officer, "wards", [ward_id(A)])
    sent = create_alert(officer, alert_input(target, title="Sent alert"))
    db.session.commit()
    scheduled = create_alert(officer, alert_input(target, title="Later alert",
                                                  send_at=utcnow() + timedelta(hours=1)))
    db.session.commit()
    page = client.get(f"/alerts/{sent.id}")
    assert page.status_code == 200 and "Sent alert" in page.get_data(as_text=True)
    assert client.get(f"/alerts/{scheduled.id}").status_code == 404
    assert client.get("/alerts/999999").status_code == 404
    # The ward home (wards domain) includes our section (templates/wards/_sections.html).
    feed = client.get(f"/wards/{A}")
    assert feed.status_code == 200
    html = feed.get_data(as_text=True)
    assert "Sent alert" in html and "Later alert" not in html
    assert f'href="/alerts/{sent.id}"' in html
    other = client.get(f"/wards/{C}")
    assert other.status_code == 200 and "Sent alert" not in other.get_data(as_text=True)


def test_useful_answer_one_tap_once_per_resident(app, client, login, make_staff,
                                                 make_resident, htmx_headers):
    officer = make_staff("officer", wards=[A])
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)])))
    db.session.commit()
    # Signed out: asked to sign in, nothing recorded.
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"}).status_code == 303
    resident = make_resident(A)
    login(client, resident)
    response = client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"},
                           headers=htmx_headers)
    assert response.status_code == 200 and "you said yes" in response.get_data(as_text=True)
    # Changing the answer keeps one row per resident.
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "no"}).status_code == 303
    answers = list(db.session.scalars(select(AlertAnswer)))
    assert len(answers) == 1 and answers[0].useful is False
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "maybe"}).status_code == 422
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"},
                       csrf=False).status_code == 400
    # Officers see it in the stats.
    login(client, officer)
    stats = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)
    assert "Yes: 0 · No: 1" in stats
    assert client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"}).status_code == 403


def test_officer_stats_per_channel(app, client, login, make_staff, make_resident, mail,
                                   push_service):
    officer = make_staff("officer", wards=[A])
    ok = make_resident(A)
    gone_user = make_resident(A, email_frequency="digest")
    save_subscription(ok, push_service.agent().subscription)
    dead_agent = push_service.agent()
    save_subscription(gone_user, dead_agent.subscription)
    db.session.commit()
    push_service.respond(dead_agent, 410)
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)])))
    db.session.commit()
    deliver_due()
    login(client, officer)
    html = client.get(f"/officer/alerts/{alert.id}").get_data(as_text=True)

    def cell(channel, state):
        return int(re.search(rf'data-channel="{channel}" data-state="{state}">(\d+)<', html).group(1))

    assert cell("email", "sent") == 1
    assert cell("digest", "queued") == 1
    assert cell("push", "sent") == 1 and cell("push", "removed") == 1
    # Other officers (not covering the ward) cannot see it.
    stranger = make_staff("officer", wards=[C])
    login(client, stranger)
    assert client.get(f"/officer/alerts/{alert.id}").status_code == 404
    assert "Phone snatches" not in client.get("/officer/alerts").get_data(as_text=True)


def test_demo_seeder_is_idempotent(app):
    from webapp.accounts.demo import seed as seed_accounts
    from webapp.alerts.demo import seed
    seed_accounts()
    assert "3 demo alerts created" in seed()
    assert "0 demo alerts created" in seed()
    states = sorted(a.state for a in db.session.scalars(select(Alert)))
    assert states == ["scheduled", "sent", "sent"]
    assert len(deliveries()) > 0


def test_export_and_account_deletion(app, client, login, make_staff, make_resident,
                                     push_service):
    from webapp.accounts.services import delete_account, export_user_data
    from webapp.delivery.models import PushSubscription
    officer = make_staff("officer", wards=[A])
    resident = make_resident(A)
    save_subscription(resident, push_service.agent().subscription)
    db.session.commit()
    alert = create_alert(officer, alert_input(resolve_target(officer, "wards", [ward_id(A)])))
    db.session.commit()
    login(client, resident)
    client.post(f"/alerts/{alert.id}/useful", data={"useful": "yes"})
    data = export_user_data(resident)
    assert data["alert_answers"][0]["useful"] is True
    assert {d["channel"] for d in data["deliveries"]} == {"email", "push"}
    delete_account(resident)
    db.session.commit()  # the view commits
    assert deliveries() == []
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
    # The answer stays as an anonymous count (issue 9, point 7).
    assert db.session.execute(select(AlertAnswer.user_id, AlertAnswer.useful)).all() == [(None, True)]
    assert alert_stats(alert)["useful_yes"] == 1
    delete_account(officer)
    db.session.commit()  # the view commits
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).author_id is None
