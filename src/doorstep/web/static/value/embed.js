/* Doorstep's one-line embed for an agency's website:

     <script src="https://doorstep.example/embed.js" data-key="ds_pub_..." async></script>

   opens the instant valuation page in an iframe (sized to its content) where the tag is.
   data-mode="inline" places the form in the page itself instead (it then calls the Lead API
   from the page's origin, which must be one of the key's origins); data-office="375" sends
   the leads to that office; data-target="#valuation" puts it inside that element. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.key) return;
  var base = new URL(script.src, location.href).origin;
  var mode = script.dataset.mode === "inline" ? "inline" : "iframe";
  var query = "?key=" + encodeURIComponent(script.dataset.key) +
    (script.dataset.office ? "&office=" + encodeURIComponent(script.dataset.office) : "");
  var holder = document.createElement("div");
  holder.className = "doorstep-valuation";
  var target = script.dataset.target && document.querySelector(script.dataset.target);
  if (target) target.appendChild(holder);
  else script.parentNode.insertBefore(holder, script.nextSibling);

  function add(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { e[k] = attrs[k]; });
    document.head.appendChild(e);
    return e;
  }

  if (mode === "iframe") {
    var frame = document.createElement("iframe");
    frame.src = base + "/value/embed" + query;
    frame.title = "Instant valuation";
    frame.style.width = "100%";
    frame.style.border = "0";
    frame.style.height = "640px";
    frame.style.display = "block";
    holder.appendChild(frame);
    window.addEventListener("message", function (e) {
      if (e.source !== frame.contentWindow || e.origin !== base) return;
      if (e.data && e.data.type === "doorstep:height" && e.data.height > 0) {
        frame.style.height = e.data.height + "px";
      }
    });
    return;
  }

  fetch(base + "/value/embed/widget" + query).then(function (r) {
    if (!r.ok) throw new Error("Doorstep: the valuation form is not available (" + r.status + ")");
    return r.text();
  }).then(function (html) {
    // Doorstep's own markup, fetched over CORS from the script's origin.
    holder.innerHTML = html;
    var root = holder.querySelector(".ds-value");
    root.dataset.api = base;
    add("link", { rel: "stylesheet", href: base + "/static/value/value.css" });
    add("link", { rel: "stylesheet", href: base + root.dataset.theme });
    if (window.DoorstepValue) window.DoorstepValue.start();
    else add("script", { src: base + "/static/value/value.js" });
  }).catch(function (err) {
    holder.textContent = "The valuation form could not be loaded.";
    if (window.console) console.error(err);
  });
})();
