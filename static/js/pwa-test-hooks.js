// Test suites only: loaded when PWA_TEST_HOOKS is set (never in production). Collects what
// the service worker tells open pages (push shown, notification clicked, subscription
// changed, replies sent) in window.wardlinePWA.messages for the browser tests to read.
(function () {
  "use strict";
  var pwa = window.wardlinePWA = window.wardlinePWA || {};
  pwa.messages = [];
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", function (event) { pwa.messages.push(event.data); });
  }
})();
