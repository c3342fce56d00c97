// Wardline as an app, part 1 of 3 (then pwa-push.js and pwa-reply-queue.js): the service
// worker (register, "Update available: reload"), the "saved copy" notice, the offline
// message for htmx requests, clean-up on sign-out, and the helpers the other two use
// (window.wardlinePWA). Every page works without any of it.
(function () {
  "use strict";
  var sw = navigator.serviceWorker;
  var pwa = window.wardlinePWA = window.wardlinePWA || {};
  pwa.ready = null;        // a promise of "activated" (or "unsupported")
  pwa.onSignOut = [];      // functions returning promises, run before a sign-out is sent

  pwa.csrfToken = function () {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; }
    catch (err) { return ""; }
  };
  pwa.signedIn = function () { return Boolean(document.querySelector("form[action$='/logout']")); };
  pwa.el = function (tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  };
  pwa.banner = function (cls, text) {
    var box = pwa.el("div", "pwa-banner " + cls);
    box.setAttribute("role", "status");
    box.appendChild(pwa.el("p", "", text));
    var main = document.getElementById("main");
    main.insertBefore(box, main.firstChild);
    return box;
  };
  pwa.postJSON = function (url, method, data) {
    return fetch(url, {method: method, credentials: "same-origin", body: JSON.stringify(data),
      headers: {"Content-Type": "application/json", "X-CSRFToken": pwa.csrfToken()}});
  };
  function londonTime(iso) {
    return new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit",
      timeZone: "Europe/London"}).format(new Date(iso));
  }

  // ---------------------------------------------------------------- saved copy notice
  function showSavedCopyNotice() {
    var savedAt = document.body.getAttribute("data-saved-copy");
    if (savedAt === null) return;
    var when = savedAt ? " from " + londonTime(savedAt) : "";
    var box = pwa.banner("pwa-offline", "Offline: saved copy" + when + ". It updates when you are back online.");
    window.addEventListener("online", function () {
      box.firstChild.textContent = "You are back online.";
      var link = pwa.el("a", "", "Load the latest version");
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
      pwa.banner("pwa-offline", "You are offline. New content loads when you are back online.");
    }
  });

  // ---------------------------------------------------------------- service worker
  var updating = false;

  function offerUpdate(worker) {
    if (document.querySelector(".pwa-update")) return;
    var box = pwa.banner("pwa-update", "Update available.");
    var button = pwa.el("button", "button-small", "Reload");
    button.type = "button";
    button.setAttribute("aria-label", "Update available: reload");
    button.addEventListener("click", function () {
      updating = true;
      worker.postMessage({type: "SKIP_WAITING"});
    });
    box.appendChild(button);
  }

  function register() {
    if (!sw) return Promise.resolve("unsupported");
    var refreshing = false;
    sw.addEventListener("controllerchange", function () {
      // Only reload for an update the resident accepted, not for the very first install.
      if (refreshing || !updating) return;
      refreshing = true;
      window.location.reload();
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

  // ---------------------------------------------------------------- sign-out
  function wireSignOut() {
    // Also "Sign out of all devices" in Settings (data-sign-out).
    document.querySelectorAll("form[action$='/logout'], form[data-sign-out]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-cleaned") === "1") return;
        event.preventDefault();
        var jobs = pwa.onSignOut.map(function (job) { return job().catch(function () {}); });
        if (window.caches) {
          jobs.push(caches.keys().then(function (names) {
            return Promise.all(names.map(function (name) { return caches.delete(name); }));
          }));
        }
        Promise.all(jobs).catch(function () {}).then(function () {
          form.setAttribute("data-cleaned", "1");
          form.submit();
        });
      });
    });
  }

  // ---------------------------------------------------------------- start
  function start() {
    showSavedCopyNotice();
    pwa.ready = register();
    pwa.ready.then(function () {
      if (sw.controller) sw.controller.postMessage({type: "PRECACHE"});
    }).catch(function () {});
    wireSignOut();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
