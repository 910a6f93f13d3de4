// Doorstep's few behaviours that need a browser: copy to clipboard and dismissing toasts.
// Everything else is server-rendered and driven by htmx attributes.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy-target"));
      if (!source) return;
      var text = source.value !== undefined ? source.value : source.textContent;
      var label = copy.getAttribute("data-label") || copy.textContent;
      copy.setAttribute("data-label", label);
      var done = function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {
        source.select && source.select();
        document.execCommand("copy");
        done();
      }
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var toast = dismiss.closest(".toast");
      if (toast) toast.remove();
    }
  });
  // Toasts clear themselves after a while, so they never pile up over the page.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "toasts") {
      var toasts = event.detail.target.querySelectorAll(".toast");
      var last = toasts[toasts.length - 1];
      if (last) setTimeout(function () { last.remove(); }, 8000);
    }
  });
  // Filter forms send only the filters in use, so the address in the bar stays short and
  // bookmarkable: /leads?type=vendor rather than /leads?q=&type=vendor&source=&...
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") return;
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "") delete params[key];
    });
  });
  // Native confirm for destructive buttons (revoke, delete) that carry data-confirm.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
// The workflow editor shows each step only the fields its action uses (without script, all
// of them are shown, each saying which actions use it).
(function () {
  "use strict";
  function sync(select) {
    var step = select.closest("[data-step]");
    if (!step) return;
    step.querySelectorAll("[data-for]").forEach(function (field) {
      var used = field.getAttribute("data-for").split(" ");
      field.hidden = select.value === "" || used.indexOf(select.value) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-step-action]")) sync(event.target);
  });
  function syncAll(root) {
    root.querySelectorAll("[data-step-action]").forEach(sync);
  }
  document.addEventListener("DOMContentLoaded", function () { syncAll(document); });
  // Pages reached through hx-boost arrive without a DOMContentLoaded of their own.
  document.addEventListener("htmx:load", function (event) { syncAll(event.detail.elt); });
})();
