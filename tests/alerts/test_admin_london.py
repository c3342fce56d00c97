"""Admins may send an alert to all of London from the compose form; officers may not."""
from __future__ import annotations

from sqlalchemy import select

from webapp.delivery.models import Delivery
from webapp.extensions import db


def test_admin_sends_to_all_of_london(client, login, make_staff, make_resident, htmx_headers):
    westminster = make_resident("E05013806")
    city = make_resident("E05009288")
    login(client, make_staff("admin"))
    assert "All of London" in client.get("/officer/alerts/new").get_data(as_text=True)
    data = {"title": "London-wide", "body": "For everyone.", "category": "prevention",
            "scope": "london", "channels": ["email"], "when": "now"}
    preview = client.post("/officer/alerts/preview", data=data, headers=htmx_headers)
    assert "Reaches 2 residents" in preview.get_data(as_text=True)
    assert client.post("/officer/alerts/new", data=data).status_code == 303
    assert sorted(db.session.scalars(select(Delivery.user_id))) == sorted([westminster.id, city.id])
