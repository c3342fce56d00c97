// Wardline: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  // Live character counters for fields with data-maxlength-counter.
  function wireCounters(root) {
    root.querySelectorAll("textarea[maxlength], input[maxlength][data-counter]").forEach(function (el) {
      if (el.dataset.counterWired) return;
      el.dataset.counterWired = "1";
      var out = document.createElement("p");
      out.className = "counter";
      out.setAttribute("aria-live", "polite");
      var max = parseInt(el.getAttribute("maxlength"), 10);
      function update() { out.textContent = (max - el.value.length) + " characters left"; }
      el.insertAdjacentElement("afterend", out);
      el.addEventListener("input", update);
      update();
    });
  }

  // After an htmx swap, move focus to an error summary or a marked element, for screen readers.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    wireCounters(target);
    var focusable = target.querySelector(".error-summary, [data-autofocus]");
    if (focusable) focusable.focus();
  });

  document.addEventListener("DOMContentLoaded", function () { wireCounters(document); });
})();
