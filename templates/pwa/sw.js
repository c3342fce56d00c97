/* Wardline service worker (served from /sw.js by webapp.pwa.routes.service_worker).
 * Small on purpose: install, activate, fetch, push, notificationclick, pushsubscriptionchange,
 * sync. Version {{ version }} is the hash of every static file: a change makes a new worker,
 * which waits until the page asks it to take over ("Update available: reload"). */
"use strict";
importScripts({{ idb_js|tojson }}, {{ reply_queue_js|tojson }});

const VERSION = {{ version|tojson }};
const SHELL = "wardline-shell-" + VERSION;   // app shell, replaced with each version
const PAGES = "wardline-pages";               // resident pages kept to read offline
const MAX_PAGES = 60;
const PRECACHE = {{ precache|tojson }};
const OFFLINE_HEADER = {{ offline_header|tojson }};
const ICON = {{ icon|tojson }};
const BADGE = {{ badge|tojson }};
// Pages that may be kept (the server must also say so with OFFLINE_HEADER), and pages never
// kept: the patterns of webapp.pwa.services, rendered here.
const KEEP = new RegExp({{ keep_pattern|tojson }});
const NEVER = new RegExp({{ never_pattern|tojson }});

self.addEventListener("install", (event) => {
  // No skipWaiting here: an update waits for the page's "reload" button.
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(PRECACHE)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("wardline-shell-") && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const type = event.data && event.data.type;
  if (type === "SKIP_WAITING") self.skipWaiting();
  // After sign-out emptied every cache, put the (public) app shell back.
  if (type === "PRECACHE") {
    event.waitUntil(caches.match("/offline", {cacheName: SHELL}).then((hit) =>
      hit || caches.open(SHELL).then((cache) => cache.addAll(PRECACHE))));
  }
});

// ------------------------------------------------------------------ fetch
function offlinePage() {
  return caches.match("/offline", {cacheName: SHELL});
}

async function savedCopy(request, path) {
  const cache = await caches.open(PAGES);
  let hit = await cache.match(request, {ignoreSearch: true});
  if (!hit && path === "/") {
    // The start URL redirects a resident to their ward home: offer the last one seen.
    const keys = (await cache.keys()).filter((r) => new URL(r.url).pathname.startsWith("/wards/"));
    if (keys.length) hit = await cache.match(keys[keys.length - 1]);
  }
  if (!hit) return null;
  // Mark the page so pwa-register.js shows "Offline: saved copy from HH:MM".
  const savedAt = hit.headers.get("X-Wardline-Saved-At") || "";
  const html = (await hit.text()).replace("<body", '<body data-saved-copy="' + savedAt + '"');
  // Keep the page's own headers (its Content-Security-Policy above all); the body changed.
  const headers = new Headers(hit.headers);
  for (const name of ["Content-Length", "Content-Encoding", "ETag"]) headers.delete(name);
  return new Response(html, {headers});
}

async function keepCopy(request, response) {
  const copy = response.clone();  // now, before the page reads the body
  // Pages belong to one resident: if another signed in here (without signing out), the
  // earlier resident's copies go before the new one is kept.
  const owner = (response.headers.get(OFFLINE_HEADER).match(/owner=(\w+)/) || [])[1] || "";
  const previous = await caches.match("/__owner", {cacheName: PAGES});
  if (previous && (await previous.text()) !== owner) await caches.delete(PAGES);
  await (await caches.open(PAGES)).put("/__owner", new Response(owner));
  const headers = new Headers(response.headers);
  headers.set("X-Wardline-Saved-At", new Date().toISOString());
  const body = await copy.blob();
  const cache = await caches.open(PAGES);
  await cache.put(request.url, new Response(body, {status: 200, headers}));
  // At most MAX_PAGES copies: the first kept go first (keys come in insertion order).
  const pages = (await cache.keys()).filter((r) => new URL(r.url).pathname !== "/__owner");
  for (const old of pages.slice(0, Math.max(0, pages.length - MAX_PAGES))) await cache.delete(old);
}

async function navigate(event, path) {
  const mayKeep = KEEP.test(path) && !NEVER.test(path);
  try {
    const response = await fetch(event.request);
    if (mayKeep && response.ok && response.type === "basic" && !response.redirected &&
        /^keep\b/.test(response.headers.get(OFFLINE_HEADER) || "")) {
      event.waitUntil(keepCopy(event.request, response));
    }
    return response;
  } catch (err) {
    if (!NEVER.test(path)) {
      const copy = await savedCopy(event.request, path);
      if (copy) return copy;
    }
    return (await offlinePage()) || Response.error();
  }
}

async function staticAsset(request) {
  const hit = await caches.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    if (response.ok) {
      const copy = response.clone();
      caches.open(SHELL).then((cache) => cache.put(request, copy));
    }
    return response;
  } catch (err) {
    // An older saved page may ask for an older ?v= of an asset: serve the current one.
    return (await caches.match(request, {ignoreSearch: true})) || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(event, url.pathname));
  } else if (request.headers.get("HX-Request")) {
    // htmx does not swap on a network error: answer with a small offline fragment,
    // marked so pwa-register.js can keep polls from swapping it over a saved page.
    event.respondWith(fetch(request).catch(async () => {
      const hit = await caches.match("/offline?fragment=1", {cacheName: SHELL});
      if (!hit) return Response.error();
      return new Response(await hit.text(), {headers: {
        "Content-Type": "text/html; charset=utf-8", [OFFLINE_HEADER]: "fragment"}});
    }));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(staticAsset(request));
  }
});

// ------------------------------------------------------------------ reply queue
async function broadcast(message) {
  const windows = await self.clients.matchAll({type: "window", includeUncontrolled: true});
  for (const client of windows) client.postMessage(message);
}
{% if test_hooks %}
// Test suites only (PWA_TEST_HOOKS): tell open pages what happened, for the browser tests.
const tellTests = broadcast;
{% else %}
const tellTests = async () => {};
{% endif %}
self.addEventListener("sync", (event) => {
  // "wardline-outbox": a sync registered before the queue's rename.
  if (event.tag === WardlineReplyQueue.SYNC_TAG || event.tag === "wardline-outbox") {
    event.waitUntil(WardlineReplyQueue.flush(broadcast));
  }
});

// ------------------------------------------------------------------ push

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; }
  catch (err) { data = {body: event.data ? event.data.text() : ""}; }
  const url = new URL(data.url || "/", self.location.origin).href;
  const title = data.title || "Wardline";
  // Always show a notification: browsers revoke permission from silent pushes.
  event.waitUntil((async () => {
    let error = null;
    try {
      await self.registration.showNotification(title, {
        body: data.body || "", tag: data.tag || url, renotify: Boolean(data.tag),
        icon: ICON, badge: BADGE, data: {url}, lang: "en-GB"});
    } catch (err) { error = String(err); }
    await tellTests({type: "push", title, tag: data.tag || url, url, error});
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data || {}).url || "/", self.location.origin).href;
  event.waitUntil((async () => {
    await tellTests({type: "notificationclick", url});
    const windows = await self.clients.matchAll({type: "window", includeUncontrolled: true});
    const open = windows.find((client) => client.url === url);
    try {
      if (open) await open.focus(); else await self.clients.openWindow(url);
    } catch (err) { await tellTests({type: "notificationclick-refused", url, error: String(err)}); }
  })());
});

self.addEventListener("pushsubscriptionchange", (event) => {
  // The push service replaced or expired this device's subscription: make a new one
  // and tell the server, which drops the old endpoint.
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    let fresh = event.newSubscription;
    if (!fresh) {
      let key = old && old.options && old.options.applicationServerKey;
      if (!key) key = (await (await fetch("/push/key")).json()).publicKey;
      fresh = await self.registration.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
    }
    const csrf = await WardlineReplyQueue.csrfToken();
    const body = Object.assign(fresh.toJSON(), {oldEndpoint: old ? old.endpoint : null});
    await fetch("/push/subscriptions", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf || ""},
      body: JSON.stringify(body)});
    await tellTests({type: "pushsubscriptionchange", endpoint: fresh.endpoint});
  })());
});
