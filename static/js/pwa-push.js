// Wardline as an app, part 2 of 3: notifications on this device ("Turn on notifications"
// controls, the repair of a subscription the server lost on each app open, removing this
// device in Settings, unsubscribing on sign-out). Needs pwa-register.js first.
(function () {
  "use strict";
  var sw = navigator.serviceWorker;
  var pwa = window.wardlinePWA;
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
    return pwa.postJSON("/push/subscriptions", "POST", sub.toJSON()).then(function (r) {
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
      return pwa.postJSON("/push/subscriptions", "DELETE", {endpoint: sub.endpoint})
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
    if (!pwa.signedIn() || pushSupport() !== "ok" || Notification.permission !== "granted") return Promise.resolve();
    return sw.ready.then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (!sub) {
        if (localStorage.getItem("wardline-push") !== "on") return "none";
        // Turned on here before, but the browser dropped the subscription: make a new one.
        return fetch("/push/key").then(function (r) { return r.json(); })
          .then(function (k) { return subscribe(k.publicKey); }).then(function () { return "resubscribed"; });
      }
      return pwa.postJSON("/push/subscriptions/check", "POST", {endpoint: sub.endpoint})
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

  function start() {
    pwa.onSignOut.push(unsubscribeHere);
    wireDeviceForms();
    document.querySelectorAll("[data-push-control]").forEach(wirePushControl);
    // The survey's last step arrives by htmx: wire its control too.
    document.addEventListener("htmx:load", function (event) {
      var root = event.detail.elt;
      if (root.matches && root.matches("[data-push-control]")) wirePushControl(root);
      if (root.querySelectorAll) root.querySelectorAll("[data-push-control]").forEach(wirePushControl);
    });
    // A promise of what the repair did ("ok", "repaired", "removed", "none"...).
    pwa.repaired = pwa.ready.then(repairSubscription).then(function (result) {
      if (result === "removed") pushControls.forEach(function (show) { show("off"); });
      return result;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
