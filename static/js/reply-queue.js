// Wardline reply queue: replies written offline wait in IndexedDB until they can be sent.
// ("Outbox" is the server's delivery table; this is the browser's own queue.)
// Shared by the page (pwa-reply-queue.js) and the service worker (importScripts), which both
// may flush it: a Web Lock lets only one flush run at a time, and each reply carries its own
// idempotency key, so even a retry after a lost response never creates a duplicate.
// Needs idb-keyval (static/vendor/idb-keyval-6.2.2.umd.js) loaded first.
(function (global) {
  "use strict";
  var kv = global.idbKeyval;
  var store = kv.createStore("wardline-reply-queue", "replies");
  var meta = kv.createStore("wardline-meta", "values");
  // The queue's database before the rename; replies still in it move over once.
  var LEGACY_DB = "wardline-outbox", LEGACY_STORE = "messages";

  function readLegacy() {
    return new Promise(function (resolve) {
      var request = global.indexedDB.open(LEGACY_DB);
      // It does not exist: abort the creation (the open then fails), so none is made.
      request.onupgradeneeded = function () { request.transaction.abort(); };
      request.onerror = function () { resolve(null); };
      request.onsuccess = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(LEGACY_STORE)) { db.close(); resolve([]); return; }
        var tx = db.transaction(LEGACY_STORE, "readonly");
        var items = tx.objectStore(LEGACY_STORE).getAll();
        tx.oncomplete = function () { db.close(); resolve(items.result || []); };
        tx.onerror = tx.onabort = function () { db.close(); resolve(null); };
      };
    });
  }

  var migrated = readLegacy().then(function (items) {
    if (items === null) return;  // nothing to move
    return kv.setMany(items.map(function (item) { return [item.key, item]; }), store).then(function () {
      // Not waited for: another tab's open connection may hold it up until it closes.
      global.indexedDB.deleteDatabase(LEGACY_DB);
    });
  }).catch(function () {});

  function withLock(fn) {
    if (global.navigator && global.navigator.locks) {
      return global.navigator.locks.request("wardline-reply-queue", fn);
    }
    return fn();
  }

  // Queue one form submission: {key, action, fields: [[name, value]...], csrf, text, page}.
  function add(item) {
    item.createdAt = item.createdAt || new Date().toISOString();
    return migrated.then(function () { return kv.set(item.key, item, store); });
  }

  function all() {
    return migrated.then(function () { return kv.values(store); }).then(function (items) {
      return items.sort(function (a, b) { return a.createdAt < b.createdAt ? -1 : 1; });
    });
  }

  // Send every queued reply, oldest first. Stops at the first network failure (still
  // offline) or server error (kept for later); drops a reply the server refuses, such as
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
              // The server is busy or failing: keep the reply and try again later.
              if (response.status >= 500 || response.status === 429) { offline = true; return; }
              var signedOut = new URL(response.url, global.location.href).pathname.indexOf("/login") === 0;
              var ok = response.ok && !signedOut;
              return kv.del(item.key, store).then(function () {
                return notify({type: ok ? "reply-sent" : "reply-failed", key: item.key,
                               status: response.status, page: item.page,
                               guard: response.headers.get("X-Wardline-Guard") || ""});
              });
            }, function () { offline = true; });
          });
        });
        return chain;
      });
    });
  }

  function clear() {
    return migrated.then(function () { return Promise.all([kv.clear(store), kv.clear(meta)]); });
  }

  // The CSRF token of the signed-in session, kept for the service worker's own requests.
  function csrfToken(value) {
    if (value === undefined) return kv.get("csrf", meta);
    return kv.set("csrf", value, meta);
  }

  global.WardlineReplyQueue = {add: add, all: all, flush: flush, clear: clear, csrfToken: csrfToken,
                               SYNC_TAG: "wardline-reply-queue"};
})(self);
