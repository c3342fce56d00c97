"""Open data: a ward's priorities as police.uk publishes them (``issue``, ``issue-date``,
``action``, ``action-date``, as in the police.uk API's neighbourhood priorities method),
Wardline's richer JSON, and Atom feeds (RFC 4287) of alerts, ward posts and priority
updates for a ward and for all of London."""
from __future__ import annotations

import html
from datetime import date, datetime, time
from xml.etree import ElementTree as ET

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.priorities.models import Priority
from webapp.priorities.services import (current_priorities, earlier_priorities, link_url,
                                        priority_url, residents_named, topic_label)
from webapp.platform.pagecache import cached, watch
from webapp.platform.timeutil import html_datetime
from webapp.alerts.models import Alert, AlertWard
from webapp.posts.models import WardPost
from webapp.wards.models import Ward

ATOM = "http://www.w3.org/2005/Atom"
FEED_LIMIT = 50
# What an Atom feed is made of (its entries are kept per process until one changes; the
# feed's response is kept for visitors by webapp.platform.pagestore).
ATOM_TABLES = watch("alerts", "alert_wards", "wards", "boroughs", "priorities",
                    "priority_actions", "priority_topics", "users", "ward_posts")
EPOCH = datetime(2026, 1, 1)  # "updated" of a feed with no entries (stable for ETags)


def _police_date(value) -> str | None:
    """police.uk's date form: ``2010-07-28T00:00:00`` (no zone)."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _p(text: str) -> str:
    return "".join(f"<p>{html.escape(part)}</p>" for part in text.split("\n") if part.strip())


def police_uk_priorities(ward) -> list[dict]:
    """The police.uk shape: one object per priority, current first. ``issue`` and
    ``action`` are HTML (escaped officer text); ``action`` is the latest action (or the
    outcome, once closed)."""
    out = []
    for p in current_priorities(ward.id) + earlier_priorities(ward.id):
        latest = p.actions[0] if p.actions else None
        if p.status == "closed":
            action, action_date = _p(p.outcome or ""), _police_date(p.closed_at)
        elif latest is not None:
            action, action_date = _p(latest.body), _police_date(latest.acted_on)
        else:
            action, action_date = None, None
        out.append({"issue": _p(f"{p.title}\n{p.commitment}"), "issue-date": _police_date(p.created_at),
                    "action": action, "action-date": action_date})
    return out


def wardline_priorities(ward) -> dict:
    """Wardline's own JSON: topics with their (thresholded) counts, every dated action and
    its link, review date, outcome."""
    base = current_app.config["BASE_URL"]
    items = []
    for p in current_priorities(ward.id) + earlier_priorities(ward.id):
        named = residents_named(ward.id, p.topics)
        items.append({
            "id": p.id, "url": base + priority_url(p), "title": p.title,
            "commitment": p.commitment, "status": p.status,
            "topics": [{"code": t, "label": topic_label(t), "residents": named.get(t)}
                       for t in p.topics],
            "set_at": html_datetime(p.created_at), "review_on": p.review_on.isoformat(),
            "closed_at": html_datetime(p.closed_at) or None, "outcome": p.outcome,
            "actions": [{"date": a.acted_on.isoformat(), "text": a.body,
                         "link": ({"type": a.link_type, "title": a.link_title,
                                   "url": base + link_url(a, ward.code)} if a.link_type else None)}
                        for a in p.actions],
        })
    return {"ward": {"code": ward.code, "name": ward.name, "borough": ward.borough.name},
            "priorities": items,
            "counts_hidden_below": current_app.config["STATS_MIN_COUNT"]}


# --------------------------------------------------------------------------- Atom
def _entries(ward_ids: list[int] | None) -> list[dict]:
    """Feed entries (newest first): sent alerts, ward posts, priorities set / acted on /
    closed, for ``ward_ids`` (None: all of London)."""
    base = current_app.config["BASE_URL"]
    entries = []
    alerts = select(Alert).where(Alert.state == "sent")
    if ward_ids is not None:
        alerts = alerts.where(Alert.id.in_(select(AlertWard.alert_id).where(
            AlertWard.ward_id.in_(ward_ids))))
    for a in db.session.scalars(alerts.order_by(Alert.sent_at.desc()).limit(FEED_LIMIT)):
        entries.append({"id": f"{base}/alerts/{a.id}", "title": a.title, "updated": a.sent_at,
                        "link": f"{base}/alerts/{a.id}", "summary": a.body, "kind": "alert"})
    posts = select(WardPost, Ward.code).join(Ward, Ward.id == WardPost.ward_id)
    if ward_ids is not None:
        posts = posts.where(WardPost.ward_id.in_(ward_ids))
    for post, code in db.session.execute(posts.order_by(WardPost.created_at.desc()).limit(FEED_LIMIT)):
        url = f"{base}/wards/{code}/posts/{post.id}"
        entries.append({"id": url, "title": post.title, "updated": post.created_at, "link": url,
                        "summary": post.body, "kind": "ward post"})
    prios = select(Priority).join(Ward, Ward.id == Priority.ward_id)
    if ward_ids is not None:
        prios = prios.where(Priority.ward_id.in_(ward_ids))
    for p in db.session.scalars(prios.order_by(Priority.updated_at.desc()).limit(FEED_LIMIT)):
        url = base + priority_url(p)
        entries.append({"id": f"{url}#set", "title": f"New ward priority: {p.title}",
                        "updated": p.created_at, "link": url, "summary": p.commitment,
                        "kind": "priority"})
        if p.closed_at:
            entries.append({"id": f"{url}#closed", "title": f"Priority closed: {p.title}",
                            "updated": p.closed_at, "link": url, "summary": p.outcome or "",
                            "kind": "priority"})
        for a in p.actions:
            entries.append({"id": f"{url}#action-{a.id}", "title": f"{p.title}: {a.body}"[:200],
                            "updated": a.created_at, "link": url,
                            "summary": f"{a.acted_on.strftime('%-d %b %Y')}: {a.body}",
                            "kind": "priority"})
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    return entries[:FEED_LIMIT]


def atom_feed(title: str, self_url: str, alternate_url: str, ward_ids: list[int] | None) -> bytes:
    """A valid Atom 1.0 document (feed id/title/updated/author/links; entry
    id/title/updated/link/summary)."""
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    entries = cached("atom-entries", tuple(ward_ids) if ward_ids is not None else None,
                     ATOM_TABLES, lambda: _entries(ward_ids))
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", self_url)
    sub(feed, "title", title)
    sub(feed, "updated", html_datetime(max((e["updated"] for e in entries), default=EPOCH)))
    author = sub(feed, "author")
    sub(author, "name", "Wardline")
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=alternate_url)
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e["id"])
        sub(entry, "title", e["title"])
        sub(entry, "updated", html_datetime(e["updated"]))
        sub(entry, "link", rel="alternate", type="text/html", href=e["link"])
        sub(entry, "category", term=e["kind"])
        sub(entry, "summary", e["summary"] or "", type="text")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(feed, encoding="unicode")).encode("utf-8")

