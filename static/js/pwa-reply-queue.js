// Wardline as an app, part 3 of 3: the reply queue. A form with data-reply-queue (the
// resident's reply) is kept in IndexedDB (reply-queue.js) while offline, shown as "Queued",
// and sent with its idempotency key when the connection returns (Background Sync, the
// `online` event, or the next page load). Needs pwa-register.js first.
(function () {
  "use strict";
  var sw = navigator.serviceWorker;
  var pwa = window.wardlinePWA;
  var Queue = window.WardlineReplyQueue;
  var el = pwa.el;

  function queueList(form) {
    var list = form.parentNode.querySelector(".reply-queue");
    if (!list) {
      list = el("ol", "reply-queue");
      list.setAttribute("aria-label", "Replies waiting to be sent");
      list.setAttribute("aria-live", "polite");
      form.parentNode.insertBefore(list, form);
    }
    return list;
  }

  function showQueued(form, item) {
    var li = el("li", "reply-queue-item");
    li.setAttribute("data-reply-key", item.key);
    li.appendChild(el("p", "reply-queue-text", item.text));
    li.appendChild(el("p", "reply-queue-status", "Queued: sends by itself when you are back online."));
    queueList(form).appendChild(li);
  }

  function showOutcome(msg) {
    var li = document.querySelector("[data-reply-key='" + msg.key + "']");
    if (!li) return;
    var status = li.querySelector(".reply-queue-status");
    if (msg.type === "reply-sent") {
      li.classList.add("reply-queue-sent");
      status.textContent = "Sent.";
    } else if (msg.guard) {
      // The guard held it back: it may describe an emergency or a crime (999 / 101).
      li.classList.add("reply-queue-failed");
      status.textContent = (msg.guard === "emergency"
        ? "Not sent: it may describe an emergency. If someone is in danger now, call 999. "
        : "Not sent: it may describe a crime. To report a crime, call 101 or use the police website. ") +
        "Open the conversation to read why, and send it again if it is neither.";
      var advice = el("p", "reply-queue-advice");
      var call = el("a", "", msg.guard === "emergency" ? "Call 999" : "Call 101");
      call.href = msg.guard === "emergency" ? "tel:999" : "tel:101";
      advice.appendChild(call);
      li.appendChild(advice);
    } else {
      li.classList.add("reply-queue-failed");
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
                fields: fields, csrf: data.get("csrf_token") || pwa.csrfToken(),
                text: textarea ? textarea.value : "", page: location.pathname};
    return Queue.add(item).then(function () {
      showQueued(form, item);
      form.reset();
      if (textarea) textarea.dispatchEvent(new Event("input"));  // character counter
      newKey(form);
      if (sw && sw.controller) {
        sw.ready.then(function (reg) {
          if (reg.sync) return reg.sync.register(Queue.SYNC_TAG);
        }).catch(function () {});
      }
    });
  }

  function flush() {
    if (!navigator.onLine) return Promise.resolve();
    return Queue.flush(showOutcome);
  }

  function wire() {
    var forms = document.querySelectorAll("form[data-reply-queue]");
    forms.forEach(function (form) { newKey(form); });
    // Capture phase: runs before htmx's own submit handler on the form.
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-reply-queue]");
      if (!form || navigator.onLine) return;
      event.preventDefault();
      event.stopPropagation();
      queueForm(form);
    }, true);
    // Online but the request never reached us (a dead connection): queue it too.
    document.addEventListener("htmx:sendError", function (event) {
      var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form[data-reply-queue]");
      if (form) queueForm(form);
    });
    // After a reply is sent, the next one needs a fresh key.
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (form && form.matches && form.matches("form[data-reply-queue]") && event.detail.successful) newKey(form);
    });
    // The service worker sent the queue (Background Sync): show how each reply went.
    if (sw) {
      sw.addEventListener("message", function (event) {
        if (event.data && /^reply-(sent|failed)$/.test(event.data.type)) showOutcome(event.data);
      });
    }
    Queue.all().then(function (items) {
      items.forEach(function (item) {
        var form = document.querySelector("form[data-reply-queue][action='" + new URL(item.action).pathname + "']") ||
          Array.prototype.find.call(forms, function (f) { return f.action === item.action; });
        if (form) showQueued(form, item);
      });
    }).then(flush);
    window.addEventListener("online", flush);
  }

  function start() {
    if (!Queue) return;
    pwa.onSignOut.push(Queue.clear);
    if (pwa.signedIn()) Queue.csrfToken(pwa.csrfToken()).catch(function () {});
    if (window.crypto && crypto.randomUUID) wire();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
