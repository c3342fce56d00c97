"""A shared phone: the browser's push subscription still belongs to the resident who used it
before (they never signed out). The server refuses to hand that endpoint over (issue 9), so
the page makes a fresh subscription for the new resident instead of failing."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_sw_activated
from webapp.delivery.subscriptions import save_subscription, subscriptions_for
from webapp.extensions import db

pytestmark = pytest.mark.browser


def stub_push_manager_sequence(context, subscriptions: list[dict]) -> None:
    """Like ``stub_push_manager``, but each unsubscribe makes the next ``subscribe()`` return
    the next subscription (a browser gets a new endpoint after unsubscribing)."""
    context.add_init_script("""(() => {
      const subs = %s;
      const bytes = s => Uint8Array.from(atob(s.replace(/-/g,'+').replace(/_/g,'/')), c => c.charCodeAt(0)).buffer;
      const index = () => Math.min(Number(localStorage.getItem('fake-push-n') || 0), subs.length - 1);
      const make = sub => ({endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
        getKey: n => bytes(sub.keys[n]), toJSON: () => sub,
        unsubscribe: async () => {
          localStorage.setItem('fake-push-n', String(index() + 1));
          localStorage.setItem('fake-push', 'off');
          return true;
        }});
      PushManager.prototype.subscribe = async function () {
        localStorage.setItem('fake-push', 'on');
        return make(subs[index()]);
      };
      PushManager.prototype.getSubscription = async function () {
        return localStorage.getItem('fake-push') === 'on' ? make(subs[index()]) : null;
      };
      PushManager.prototype.permissionState = async function () { return 'granted'; };
    })();""" % json.dumps(subscriptions))


def test_turning_on_where_another_account_holds_the_endpoint_subscribes_afresh(
        page, context, base_url, make_resident, sign_in, push_service):
    before, now = make_resident(), make_resident()
    old, fresh = push_service.agent(), push_service.agent()
    save_subscription(before, old.subscription)
    db.session.commit()
    stub_push_manager_sequence(context, [old.subscription, fresh.subscription])
    context.grant_permissions(["notifications"], origin=base_url)
    sign_in(now)
    page.goto("/settings")
    wait_sw_activated(page)
    page.get_by_role("button", name="Turn on notifications on this device").click()
    expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
    db.session.rollback()  # end the read snapshot: see what the live server committed
    assert [s.endpoint for s in subscriptions_for(now)] == [fresh.endpoint]
    assert [s.endpoint for s in subscriptions_for(before)] == [old.endpoint]
