// Wardline: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  var numbers = new Intl.NumberFormat("en-GB");  // "2,000", as the hints write numbers

  // Live character counters for textareas with maxlength (and inputs with data-counter).
  function wireCounters(root) {
    root.querySelectorAll("textarea[maxlength], input[maxlength][data-counter]").forEach(function (el) {
      if (el.dataset.counterWired) return;
      el.dataset.counterWired = "1";
      var out = document.createElement("p");
      out.className = "counter";
      out.setAttribute("aria-live", "polite");
      var max = parseInt(el.getAttribute("maxlength"), 10);
      function update() {
        var left = max - el.value.length;
        out.textContent = numbers.format(left) + (left === 1 ? " character left" : " characters left");
      }
      el.insertAdjacentElement("afterend", out);
      el.addEventListener("input", update);
      update();
    });
  }

  // Show/hide a part of a form by a control's value: <div data-show-when="name=value">.
  // Without this file every part shows (the server ignores the parts not chosen).
  function wireConditionals(root) {
    root.querySelectorAll("[data-show-when]").forEach(function (part) {
      if (part.dataset.showWired) return;
      part.dataset.showWired = "1";
      var rule = part.dataset.showWhen.split("="), name = rule[0], values = rule[1].split("|");
      var form = part.closest("form");
      if (!form) return;
      function update() {
        var chosen = form.querySelector("[name='" + name + "']:checked") ||
          form.querySelector("select[name='" + name + "']");
        part.hidden = !(chosen && values.indexOf(chosen.value) !== -1);
      }
      form.addEventListener("change", update);
      update();
    });
  }

  // Parts only needed without JavaScript (a "Show its wards" button next to a select that
  // htmx already follows) are hidden once this file runs.
  function hideWithJs(root) {
    root.querySelectorAll("[data-no-js-only]").forEach(function (el) { el.hidden = true; });
  }

  // A "Print" button where printing helps (backup codes): shown only with JavaScript.
  function wirePrint(root) {
    root.querySelectorAll("button[data-print]").forEach(function (button) {
      if (button.dataset.printWired) return;
      button.dataset.printWired = "1";
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function enhance(root) {
    wirePrint(root);
    wireCounters(root);
    wireConditionals(root);
    hideWithJs(root);
  }

  // The page title says "Error:" while an error summary shows (it is set by the server on
  // full pages; kept true after htmx swaps).
  function markTitle() {
    var hasError = !!document.querySelector(".error-summary");
    var title = document.title.replace(/^Error: /, "");
    document.title = hasError ? "Error: " + title : title;
  }

  // htmx:load fires for every piece of new content (including outerHTML swaps).
  document.addEventListener("htmx:load", function (evt) { enhance(evt.detail.elt); });

  // After an htmx swap, move focus to an error summary or a marked element, for screen readers.
  document.addEventListener("htmx:afterSettle", function (evt) {
    var root = evt.detail.elt && evt.detail.elt.isConnected ? evt.detail.elt : document;
    var focusable = root.querySelector(".error-summary, [data-autofocus]") ||
      (evt.detail.target && evt.detail.target.isConnected ? null : document.querySelector(".error-summary"));
    markTitle();
    if (focusable) focusable.focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
})();
