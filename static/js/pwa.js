// Wardline as an app: service worker, "saved copy" notice, update prompt, offline message
// queue, notifications on this device, clean-up on sign-out. Every page works without it.
(function () {
  "use strict";
  var sw = navigator.serviceWorker;
  var state = window.wardlinePWA = {messages: [], ready: null};

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (err) { return ""; }
  }
  function signedIn() { return Boolean(document.querySelector("form[action$='/logout']")); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }
  function banner(cls, text) {
    var box = el("div", "pwa-banner " + cls);
    box.setAttribute("role", "status");
    box.appendChild(el("p", "", text));
    var main = document.getElementById("main");
    main.insertBefore(box, main.firstChild);
    return box;
  }
  function postJSON(url, method, data) {
    return fetch(url, {method: method, credentials: "same-origin", body: JSON.stringify(data),
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()}});
  }
  function londonTime(iso) {
    return new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit",
      timeZone: "Europe/London"}).format(new Date(iso));
  }

  // ---------------------------------------------------------------- saved copy notice
  function showSavedCopyNotice() {
    var savedAt = document.body.getAttribute("data-saved-copy");
    if (savedAt === null) return;
    var when = savedAt ? " from " + londonTime(savedAt) : "";
    var box = banner("pwa-offline", "Offline: saved copy" + when + ". It updates when you are back online.");
    window.addEventListener("online", function () {
      box.firstChild.textContent = "You are back online.";
      var link = el("a", "", "Load the latest version");
      link.href = location.href;
      box.appendChild(link);
    }, {once: true});
  }

  // An htmx request answered by the service worker's offline fragment: say so once, and
  // never let a background poll swap it over the saved page.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.getResponseHeader("X-Wardline-Offline") !== "fragment") return;
    var trigger = (event.detail.elt && event.detail.elt.getAttribute("hx-trigger")) || "";
    if (/\b(every|load)\b/.test(trigger)) event.detail.shouldSwap = false;
    if (!document.querySelector(".pwa-offline")) {
      banner("pwa-offline", "You are offline. New content loads when you are back online.");
    }
  });

  // ---------------------------------------------------------------- service worker
  function offerUpdate(worker) {
    if (document.querySelector(".pwa-update")) return;
    var box = banner("pwa-update", "Update available.");
    var button = el("button", "button-small", "Reload");
    button.type = "button";
    button.setAttribute("aria-label", "Update available: reload");
    button.addEventListener("click", function () {
      state.updating = true;
      worker.postMessage({type: "SKIP_WAITING"});
    });
    box.appendChild(button);
  }

  function register() {
    if (!sw) return Promise.resolve("unsupported");
    var refreshing = false;
    sw.addEventListener("controllerchange", function () {
      // Only reload for an update the resident accepted, not for the very first install.
      if (refreshing || !state.updating) return;
      refreshing = true;
      window.location.reload();
    });
    sw.addEventListener("message", function (event) {
      state.messages.push(event.data);
      if (event.data && /^outbox-/.test(event.data.type)) outboxMessage(event.data);
    });
    return sw.register("/sw.js", {scope: "/"}).then(function (reg) {
      if (reg.waiting && sw.controller) offerUpdate(reg.waiting);
      reg.addEventListener("updatefound", function () {
        var fresh = reg.installing;
        fresh.addEventListener("statechange", function () {
          if (fresh.state === "installed" && sw.controller) offerUpdate(fresh);
        });
      });
      return sw.ready;
    }).then(function (reg) {
      var active = reg.active;
      if (active.state === "activated") return "activated";
      return new Promise(function (resolve) {
        active.addEventListener("statechange", function () {
          if (active.state === "activated") resolve("activated");
        });
      });
    });
  }

  // ---------------------------------------------------------------- offline messages
  var Outbox = window.WardlineOutbox;

  function queueList(form) {
    var list = form.parentNode.querySelector(".outbox");
    if (!list) {
      list = el("ol", "outbox");
      list.setAttribute("aria-label", "Messages waiting to be sent");
      list.setAttribute("aria-live", "polite");
      form.parentNode.insertBefore(list, form);
    }
    return list;
  }

  function showQueued(form, item) {
    var li = el("li", "outbox-item");
    li.setAttribute("data-outbox-key", item.key);
    li.appendChild(el("p", "outbox-text", item.text));
    li.appendChild(el("p", "outbox-status", "Queued: sends by itself when you are back online."));
    queueList(form).appendChild(li);
  }

  function outboxMessage(msg) {
    var li = document.querySelector("[data-outbox-key='" + msg.key + "']");
    if (!li) return;
    var status = li.querySelector(".outbox-status");
    if (msg.type === "outbox-sent") {
      li.classList.add("outbox-sent");
      status.textContent = "Sent.";
    } else {
      li.classList.add("outbox-failed");
      status.textContent = "Not sent: please open the conversation and send it again.";
    }
  }

  function newKey(form) {
    var input = form.querySelector("input[name='idempotency_key']");
    if (!input) {
      input = el("input");
      input.type = "hidden";
      input.name = "idempotency_key";
      form.appendChild(input);
    }
    input.value = crypto.randomUUID();
    return input.value;
  }

  function queueForm(form) {
    var data = new FormData(form);
    var fields = [];
    data.forEach(function (value, name) { if (typeof value === "string") fields.push([name, value]); });
    var textarea = form.querySelector("textarea");
    var item = {key: data.get("idempotency_key") || newKey(form), action: form.action,
                fields: fields, csrf: data.get("csrf_token") || csrfToken(),
                text: textarea ? textarea.value : "", page: location.pathname};
    return Outbox.add(item).then(function () {
      showQueued(form, item);
      form.reset();
      if (textarea) textarea.dispatchEvent(new Event("input"));  // character counter
      newKey(form);
      if (sw && sw.controller) {
        sw.ready.then(function (reg) {
          if (reg.sync) return reg.sync.register("wardline-outbox");
        }).catch(function () {});
      }
    });
  }

  function flushOutbox() {
    if (!Outbox || !navigator.onLine) return Promise.resolve();
    return Outbox.flush(function (msg) { outboxMessage(msg); state.messages.push(msg); });
  }

  function wireOutbox() {
    if (!Outbox || !window.crypto || !crypto.randomUUID) return;
    var forms = document.querySelectorAll("form[data-offline-queue]");
    forms.forEach(function (form) { newKey(form); });
    // Capture phase: runs before htmx's own submit handler on the form.
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-offline-queue]");
      if (!form || navigator.onLine) return;
      event.preventDefault();
      event.stopPropagation();
      queueForm(form);
    }, true);
    // Online but the request never reached us (a dead connection): queue it too.
    document.addEventListener("htmx:sendError", function (event) {
      var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form[data-offline-queue]");
      if (form) queueForm(form);
    });
    // After a reply is sent, the next one needs a fresh key.
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (form && form.matches && form.matches("form[data-offline-queue]") && event.detail.successful) newKey(form);
    });
    Outbox.all().then(function (items) {
      items.forEach(function (item) {
        var form = document.querySelector("form[data-offline-queue][action='" + new URL(item.action).pathname + "']") ||
          Array.prototype.find.call(forms, function (f) { return f.action === item.action; });
        if (form) showQueued(form, item);
      });
    }).then(flushOutbox);
    window.addEventListener("online", flushOutbox);
  }

  // ---------------------------------------------------------------- notifications
  var isIOS = /iPad|iPhone|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;

  function pushSupport() {
    if (sw && "PushManager" in window && "Notification" in window) {
      return Notification.permission === "denied" ? "denied" : "ok";
    }
    return isIOS && !standalone ? "ios-browser" : "unsupported";
  }

  function b64ToBytes(b64) {
    var s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(s, function (c) { return c.charCodeAt(0); });
  }

  function sendSubscription(sub, fresh) {
    return postJSON("/push/subscriptions", "POST", sub.toJSON()).then(function (r) {
      if (r.status === 409 && !fresh) {
        // This browser's subscription still belongs to the account signed in here before
        // (the server never hands it over): replace it with a new one for this account.
        var key = sub.options && sub.options.applicationServerKey;
        return sub.unsubscribe().then(function () { return sw.ready; }).then(function (reg) {
          return reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: key});
        }).then(function (renewed) { return sendSubscription(renewed, true); });
      }
      if (r.status !== 201) throw new Error("server refused the subscription (" + r.status + ")");
      localStorage.setItem("wardline-push", "on");
      return sub;
    });
  }

  function subscribe(key) {
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") throw new Error(permission);
      return sw.ready;
    }).then(function (reg) {
      return reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: b64ToBytes(key)});
    }).then(sendSubscription);
  }

  function unsubscribeHere() {
    localStorage.removeItem("wardline-push");
    if (!sw || !("PushManager" in window)) return Promise.resolve();
    return sw.getRegistration("/").then(function (reg) {
      return reg && reg.pushManager.getSubscription();
    }).then(function (sub) {
      if (!sub) return;
      return postJSON("/push/subscriptions", "DELETE", {endpoint: sub.endpoint})
        .catch(function () {}).then(function () { return sub.unsubscribe(); });
    });
  }

  var MESSAGES = {
    unsupported: "This browser can't show notifications from Wardline. An up-to-date Chrome, " +
      "Edge, Firefox or Safari can; until then you still get our emails.",
    "ios-browser": "On iPhone and iPad, notifications work only in the installed app: tap Share, " +
      "then \u201cAdd to Home Screen\u201d, open Wardline from your home screen and turn them on there.",
    denied: "Notifications are blocked for Wardline in this browser. To allow them, open the " +
      "site settings (the icon beside the web address), set Notifications to Allow, then reload this page.",
    on: "Notifications are on for this device.",
    off: "Notifications are off for this device. You can turn them on with one tap.",
    failed: "We couldn't turn on notifications on this device. Please try again in a moment."
  };

  var pushControls = [];  // each wired control's show(state), to update after a repair

  function wirePushControl(box) {
    if (box.getAttribute("data-wired")) return;
    box.setAttribute("data-wired", "1");
    var status = box.querySelector("[data-push-status]");
    var on = box.querySelector("[data-push-on]");
    var off = box.querySelector("[data-push-off]");
    var key = box.getAttribute("data-vapid-key");
    function show(name) {
      status.textContent = MESSAGES[name];
      status.hidden = false;
      box.setAttribute("data-push-state", name);
      on.hidden = name !== "off" && name !== "failed";
      off.hidden = name !== "on";
    }
    var support = pushSupport();
    if (support !== "ok") return show(support);
    pushControls.push(show);
    sw.ready.then(function (reg) { return reg.pushManager.getSubscription(); })
      .then(function (sub) { show(sub && Notification.permission === "granted" ? "on" : "off"); });
    on.addEventListener("click", function () {
      on.disabled = true;
      subscribe(key).then(function () { show("on"); }, function (err) {
        show(Notification.permission === "denied" || err.message === "denied" ? "denied" : "failed");
      }).then(function () { on.disabled = false; });
    });
    off.addEventListener("click", function () {
      unsubscribeHere().then(function () { show("off"); });
    });
  }

  // On every app open: does the server still know this device's subscription? Repair if not.
  function repairSubscription() {
    if (!signedIn() || pushSupport() !== "ok" || Notification.permission !== "granted") return Promise.resolve();
    return sw.ready.then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (!sub) {
        if (localStorage.getItem("wardline-push") !== "on") return "none";
        // Turned on here before, but the browser dropped the subscription: make a new one.
        return fetch("/push/key").then(function (r) { return r.json(); })
          .then(function (k) { return subscribe(k.publicKey); }).then(function () { return "resubscribed"; });
      }
      return postJSON("/push/subscriptions/check", "POST", {endpoint: sub.endpoint})
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.known) return "ok";
          if (answer.removed) {
            // Removed from the account in Settings (maybe on another device): turn off here.
            localStorage.removeItem("wardline-push");
            return sub.unsubscribe().then(function () { return "removed"; });
          }
          return sendSubscription(sub).then(function () { return "repaired"; });
        });
    }).catch(function (err) { return "error: " + err; });
  }

  // ---------------------------------------------------------------- sign-out
  function wireSignOut() {
    // Also "Sign out of all devices" in Settings (data-sign-out).
    document.querySelectorAll("form[action$='/logout'], form[data-sign-out]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-cleaned") === "1") return;
        event.preventDefault();
        var jobs = [unsubscribeHere().catch(function () {})];
        if (window.caches) {
          jobs.push(caches.keys().then(function (names) {
            return Promise.all(names.map(function (name) { return caches.delete(name); }));
          }));
        }
        if (Outbox) jobs.push(Outbox.clear().catch(function () {}));
        Promise.all(jobs).catch(function () {}).then(function () {
          form.setAttribute("data-cleaned", "1");
          form.submit();
        });
      });
    });
  }

  // Removing this very device in Settings also unsubscribes it here, so the next app open
  // does not "repair" what the resident just removed.
  function wireDeviceForms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var endpoint = form.getAttribute && form.getAttribute("data-push-device");
      if (!endpoint || !sw || !("PushManager" in window) || form.getAttribute("data-cleaned")) return;
      event.preventDefault();
      sw.ready.then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
        if (sub && sub.endpoint === endpoint) {
          localStorage.removeItem("wardline-push");
          return sub.unsubscribe();
        }
      }).catch(function () {}).then(function () {
        form.setAttribute("data-cleaned", "1");
        form.submit();
      });
    });
  }

  // ---------------------------------------------------------------- start
  function start() {
    showSavedCopyNotice();
    state.ready = register();
    state.ready.then(function () {
      if (sw.controller) sw.controller.postMessage({type: "PRECACHE"});
    }).catch(function () {});
    wireSignOut();
    wireDeviceForms();
    wireOutbox();
    document.querySelectorAll("[data-push-control]").forEach(wirePushControl);
    // The survey's last step arrives by htmx: wire its control too.
    document.addEventListener("htmx:load", function (event) {
      var root = event.detail.elt;
      if (root.matches && root.matches("[data-push-control]")) wirePushControl(root);
      if (root.querySelectorAll) root.querySelectorAll("[data-push-control]").forEach(wirePushControl);
    });
    if (signedIn() && Outbox) Outbox.csrfToken(csrfToken()).catch(function () {});
    state.repaired = state.ready.then(repairSubscription).then(function (result) {
      if (result === "removed") pushControls.forEach(function (show) { show("off"); });
      return result;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
