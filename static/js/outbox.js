// Wardline outbox: messages written offline wait in IndexedDB until they can be sent.
// Shared by the page (pwa.js) and the service worker (importScripts), which both may flush
// it: a Web Lock lets only one flush run at a time, and each message carries its own
// idempotency key, so even a retry after a lost response never creates a duplicate.
// Needs idb-keyval (static/vendor/idb-keyval-6.2.2.umd.js) loaded first.
(function (global) {
  "use strict";
  var kv = global.idbKeyval;
  var store = kv.createStore("wardline-outbox", "messages");
  var meta = kv.createStore("wardline-meta", "values");

  function withLock(fn) {
    if (global.navigator && global.navigator.locks) {
      return global.navigator.locks.request("wardline-outbox", fn);
    }
    return fn();
  }

  // Queue one form submission: {key, action, fields: [[name, value]...], csrf, text, page}.
  function add(item) {
    item.createdAt = item.createdAt || new Date().toISOString();
    return kv.set(item.key, item, store);
  }

  function all() {
    return kv.values(store).then(function (items) {
      return items.sort(function (a, b) { return a.createdAt < b.createdAt ? -1 : 1; });
    });
  }

  // Send every queued message, oldest first. Stops at the first network failure (still
  // offline) or server error (kept for later); drops a message the server refuses, such as
  // a 422 for text that is too long (its answer is reported via notify).
  function flush(notify) {
    notify = notify || function () {};
    return withLock(function () {
      return all().then(function (items) {
        var chain = Promise.resolve();
        var offline = false;
        items.forEach(function (item) {
          chain = chain.then(function () {
            if (offline) return;
            var body = new URLSearchParams();
            item.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
            return fetch(item.action, {
              method: "POST", body: body, credentials: "same-origin",
              headers: {"X-CSRFToken": item.csrf || "", "Idempotency-Key": item.key}
            }).then(function (response) {
              // The server is busy or failing: keep the message and try again later.
              if (response.status >= 500 || response.status === 429) { offline = true; return; }
              var signedOut = new URL(response.url, global.location.href).pathname.indexOf("/login") === 0;
              var ok = response.ok && !signedOut;
              return kv.del(item.key, store).then(function () {
                return notify({type: ok ? "outbox-sent" : "outbox-failed", key: item.key,
                               status: response.status, page: item.page});
              });
            }, function () { offline = true; });
          });
        });
        return chain;
      });
    });
  }

  function clear() {
    return Promise.all([kv.clear(store), kv.clear(meta)]);
  }

  // The CSRF token of the signed-in session, kept for the service worker's own requests.
  function csrfToken(value) {
    if (value === undefined) return kv.get("csrf", meta);
    return kv.set("csrf", value, meta);
  }

  global.WardlineOutbox = {add: add, all: all, flush: flush, clear: clear, csrfToken: csrfToken};
})(self);
