// "Use my location": shown only when the browser can locate; asks once, then lets the
// server suggest a ward (GET /wards/locate?lat=&lon=) and shows its answer in place.
(function () {
  "use strict";

  function wire(root) {
    if (!("geolocation" in navigator) || !window.htmx) return;
    root.querySelectorAll("[data-locate]").forEach(function (box) {
      if (box.dataset.locateWired) return;
      box.dataset.locateWired = "1";
      var button = box.querySelector("[data-locate-url]");
      var target = document.querySelector(button.dataset.locateTarget);
      box.hidden = false;
      button.addEventListener("click", function () {
        button.disabled = true;
        target.textContent = "Finding your location…";
        navigator.geolocation.getCurrentPosition(function (pos) {
          var url = button.dataset.locateUrl;
          url += (url.indexOf("?") < 0 ? "?" : "&") + "lat=" + pos.coords.latitude.toFixed(5) +
            "&lon=" + pos.coords.longitude.toFixed(5);
          window.htmx.ajax("GET", url, { target: target, swap: "innerHTML" }).then(function () {
            button.disabled = false;
          });
        }, function (err) {
          button.disabled = false;
          target.textContent = err.code === 1
            ? "Your browser didn't allow us to use your location. Search by name instead."
            : "We couldn't find your location. Search by name instead.";
        }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { wire(evt.detail.target); });
})();
