/* Doorstep's instant valuation form: postcode -> choose your address -> property -> details
   -> the estimate. Everything goes through the Lead API with the page's publishable key, as
   any website would: GET /api/v103/addresses, then POST /api/v103/leads/valuation (a form
   body). Runs hosted, in an iframe, or inline in an agency's page (embed.js). No inline
   scripts or styles, no third-party requests: the map is an SVG drawn here. */
(function () {
  "use strict";

  var STEPS = ["address", "property", "details", "result"];
  var FIELD_STEP = {
    postcode: "address", address: "address", type: "property", property_type: "property",
    property_bedrooms: "property", first_name: "details", last_name: "details",
    email: "details", phone: "details", gdpr_checkbox: "details"
  };
  var TYPES = {
    "detached": "Detached", "semi-detached": "Semi-detached", "terraced": "Terraced",
    "flat-maisonette": "Flat or maisonette"
  };
  var SVG = "http://www.w3.org/2000/svg";
  var money = new Intl.NumberFormat("en-GB", {
    style: "currency", currency: "GBP", maximumFractionDigits: 0
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }

  function when(iso) {
    var d = new Date(iso + "T00:00:00Z");
    return isNaN(d) ? iso : d.toLocaleDateString("en-GB", { month: "short", year: "numeric" });
  }

  // Land Registry capitals as people write them: "24, DORA ROAD" -> "24, Dora Road".
  function people(text) {
    return String(text || "").split(" ").map(function (w) {
      if (/[0-9]/.test(w)) return w.toUpperCase();
      return w.split("-").map(function (p) {
        return p.charAt(0).toUpperCase() + p.slice(1).toLowerCase();
      }).join("-");
    }).join(" ");
  }

  function metres(m) {
    return m < 1000 ? m + " m" : (m / 1000).toFixed(m < 10000 ? 1 : 0) + " km";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function Form(root) {
    this.root = root;
    this.api = (root.dataset.api || "").replace(/\/$/, "");
    this.key = root.dataset.key;
    this.form = root.querySelector(".ds-form");
    this.step = "address";
    this.addresses = [];
    this.submitting = false;
    this.idempotencyKey = null;
    this.bind();
    this.reportHeight();
  }

  Form.prototype.$ = function (sel) { return this.root.querySelector(sel); };
  Form.prototype.$$ = function (sel) {
    return Array.prototype.slice.call(this.root.querySelectorAll(sel));
  };

  Form.prototype.bind = function () {
    var self = this;
    this.form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (self.step === "details") self.submit();
    });
    this.root.addEventListener("click", function (e) {
      var button = e.target.closest("[data-action]");
      if (!button || !self.root.contains(button)) return;
      var action = button.dataset.action;
      if (action === "find") self.find();
      else if (action === "next") self.next();
      else if (action === "back") self.show(STEPS[STEPS.indexOf(self.step) - 1]);
    });
    this.$("#ds-postcode").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); self.find(); }
    });
    this.$("#ds-address").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); self.next(); }
    });
    this.$("#ds-choice").addEventListener("change", function () { self.chose(); });
  };

  Form.prototype.headers = function () {
    return { "X-API-KEY": this.key };
  };

  Form.prototype.clearErrors = function () {
    this.$$("[data-error]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    this.$$("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    var alert = this.$("[data-slot=alert]");
    alert.hidden = true;
    alert.textContent = "";
  };

  Form.prototype.fieldError = function (name, message) {
    var p = this.$("[data-error=" + name + "]");
    if (p) { p.textContent = message; p.hidden = false; }
    var input = this.form.elements[name] || (name === "address" ? this.addressInput() : null);
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    return !p;
  };

  Form.prototype.alert = function (message) {
    var alert = this.$("[data-slot=alert]");
    alert.textContent = message;
    alert.hidden = false;
    this.reportHeight();
  };

  Form.prototype.show = function (step) {
    this.step = step;
    this.$$("[data-step]").forEach(function (s) { s.hidden = s.dataset.step !== step; });
    this.$$("[data-marker]").forEach(function (m) {
      if (m.dataset.marker === step) m.setAttribute("aria-current", "step");
      else m.removeAttribute("aria-current");
    });
    var heading = this.$("[data-step=" + step + "] h2");
    if (heading) heading.focus();
    this.reportHeight();
  };

  Form.prototype.find = function () {
    var self = this;
    var postcode = this.$("#ds-postcode").value.trim();
    this.clearErrors();
    if (!postcode) { this.fieldError("postcode", "Enter your postcode."); return; }
    var button = this.$("[data-action=find]");
    button.disabled = true;
    fetch(this.api + "/api/v103/addresses?postcode=" + encodeURIComponent(postcode), {
      headers: this.headers()
    }).then(function (r) {
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    }).then(function (res) {
      button.disabled = false;
      if (res.status === 422) {
        self.fieldError("postcode", "That is not a full UK postcode: check it, such as SW19 7HH.");
        return;
      }
      if (res.status !== 200) { self.alert(res.body.message || "Please try again."); return; }
      self.$("#ds-postcode").value = res.body.postcode;
      self.fill(res.body.addresses);
    }).catch(function () {
      button.disabled = false;
      self.alert("We could not reach the server. Please check your connection and try again.");
    });
  };

  Form.prototype.fill = function (buildings) {
    var select = this.$("#ds-choice");
    select.textContent = "";
    this.addresses = [];
    var self = this;
    function option(parent, label, address, type) {
      var o = el("option", null, label);
      o.value = String(self.addresses.length);
      self.addresses.push({ address: address, property_type: type });
      parent.appendChild(o);
    }
    var prompt = el("option", null, buildings.length ? "Select your address" : "No addresses found");
    prompt.value = "";
    select.appendChild(prompt);
    buildings.forEach(function (b) {
      if (!b.flats.length) { option(select, b.address ? b.address : b.label, b.address, b.property_type); return; }
      var group = el("optgroup");
      group.label = b.label;
      if (b.address) option(group, "The whole of " + b.label, b.address, b.property_type);
      b.flats.forEach(function (f) { option(group, f.label + ", " + b.label, f.address, f.property_type); });
      select.appendChild(group);
    });
    var manual = el("option", null, "My address is not listed");
    manual.value = "manual";
    select.appendChild(manual);
    this.$$("[data-when=choose]").forEach(function (x) { x.hidden = false; });
    this.$("[data-when=manual]").hidden = buildings.length > 0;
    if (!buildings.length) select.value = "manual";
    select.focus();
    this.reportHeight();
  };

  Form.prototype.chose = function () {
    var value = this.$("#ds-choice").value;
    this.$("[data-when=manual]").hidden = value !== "manual";
    var picked = this.addresses[Number(value)];
    if (value !== "" && value !== "manual" && picked && picked.property_type) {
      var radio = this.form.querySelector(
        "input[name=property_type][value='" + picked.property_type + "']"
      );
      if (radio) radio.checked = true;
    }
    if (value === "manual") this.$("#ds-address").focus();
    this.reportHeight();
  };

  Form.prototype.addressInput = function () {
    return this.$("#ds-choice").value === "manual" ? this.$("#ds-address") : this.$("#ds-choice");
  };

  Form.prototype.address = function () {
    var value = this.$("#ds-choice").value;
    if (value === "manual") return this.$("#ds-address").value.trim();
    var picked = this.addresses[Number(value)];
    return value !== "" && picked ? picked.address : "";
  };

  Form.prototype.next = function () {
    this.clearErrors();
    if (this.step === "address") {
      if (!this.address()) {
        this.fieldError("address", "Choose your address, or type it if it is not listed.");
        this.addressInput().focus();
        return;
      }
      this.show("property");
    } else if (this.step === "property") {
      if (!this.form.querySelector("input[name=property_type]:checked")) {
        this.fieldError("property_type", "Choose the type of property.");
        return;
      }
      this.show("details");
    }
  };

  Form.prototype.checkDetails = function () {
    var ok = true;
    var self = this;
    [["first_name", "Enter your first name."], ["last_name", "Enter your last name."],
     ["email", "Enter your email address."], ["phone", "Enter a phone number."]]
      .forEach(function (pair) {
        if (!self.form.elements[pair[0]].value.trim()) { self.fieldError(pair[0], pair[1]); ok = false; }
      });
    var email = this.form.elements.email.value.trim();
    if (email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      this.fieldError("email", "Enter an email address such as name@example.com."); ok = false;
    }
    if (!this.form.elements.gdpr_checkbox.checked) {
      this.fieldError("gdpr_checkbox", "Tick the box so that we may contact you with your valuation.");
      ok = false;
    }
    if (!ok) {
      var first = this.form.querySelector("[aria-invalid=true]");
      if (first) first.focus();
    }
    return ok;
  };

  Form.prototype.body = function () {
    var f = this.form.elements;
    var body = new URLSearchParams();
    body.append("type", this.form.querySelector("input[name=type]:checked").value);
    ["first_name", "last_name", "email", "phone"].forEach(function (n) {
      body.append(n, f[n].value.trim());
    });
    body.append("postcode", f.postcode.value.trim());
    body.append("address", this.address());
    body.append("property_type", this.form.querySelector("input[name=property_type]:checked").value);
    if (f.property_bedrooms.value !== "") body.append("property_bedrooms", f.property_bedrooms.value);
    body.append("gdpr_checkbox", "on");
    if (this.root.dataset.office) body.append("office_id", this.root.dataset.office);
    var host = window.parent !== window && document.referrer ? document.referrer : location.href;
    body.append("host", host.slice(0, 255));
    body.append("meta[Form]", "Instant valuation page");
    return body;
  };

  Form.prototype.submit = function () {
    var self = this;
    if (this.submitting) return;
    this.clearErrors();
    if (!this.checkDetails()) return;
    var button = this.$("[data-action=submit]");
    this.submitting = true;
    button.disabled = true;
    button.textContent = "Working out your estimate…";
    // One key per answer given: a double click or a retry replays, it never makes two leads.
    var body = this.body();
    var sent = body.toString();
    if (!this.idempotencyKey || this.lastBody !== sent) this.idempotencyKey = newKey();
    this.lastBody = sent;
    var headers = this.headers();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    headers["Idempotency-Key"] = this.idempotencyKey;
    fetch(this.api + "/api/v103/leads/valuation", {
      method: "POST", headers: headers, body: sent
    }).then(function (r) {
      return r.json().then(function (data) { return { status: r.status, body: data, r: r }; });
    }).then(function (res) {
      self.submitting = false;
      button.disabled = false;
      button.textContent = "Get my estimate";
      if (res.status === 200) { self.result(res.body); return; }
      if (res.status === 422 && res.body.errors) { self.serverErrors(res.body.errors); return; }
      if (res.status === 429) {
        var wait = res.r.headers.get("Retry-After");
        self.alert("Too many tries from here. Please wait " + (wait || "a minute") + " seconds and try again.");
        return;
      }
      self.alert(res.body.message || "Something went wrong. Please try again.");
    }).catch(function () {
      self.submitting = false;
      button.disabled = false;
      button.textContent = "Get my estimate";
      self.alert("We could not reach the server. Please check your connection and try again.");
    });
  };

  Form.prototype.serverErrors = function (errors) {
    var self = this;
    var steps = [];
    Object.keys(errors).forEach(function (name) {
      var unknown = self.fieldError(name, errors[name].join(" "));
      if (unknown) self.alert(errors[name].join(" "));
      steps.push(FIELD_STEP[name] || "details");
    });
    steps.sort(function (a, b) { return STEPS.indexOf(a) - STEPS.indexOf(b); });
    this.show(steps[0]);
    this.alert("Please check the highlighted answers.");
  };

  Form.prototype.result = function (lead) {
    var letting = lead.type === "landlord";
    var prefix = letting ? "rent" : "sale";
    var low = lead["minimum_" + prefix + "_estimation"];
    var mid = lead["average_" + prefix + "_estimation"];
    var high = lead["maximum_" + prefix + "_estimation"];
    var brand = this.root.dataset.brand;
    this.$("[data-slot=thanks]").textContent = "Thank you, " + lead.first_name;
    var status = this.$("[data-slot=status]");
    var block = this.$("[data-slot=estimate-block]");
    status.hidden = true;
    if (mid == null) {
      block.hidden = true;
      status.hidden = false;
      status.textContent = lead.valuation_status === "Postcode Not Found"
        ? "We could not value " + (lead.postcode || "this postcode") + " automatically: it is not a postcode our sales data covers yet."
        : "There are not enough recent sales near you for an automatic estimate.";
      status.textContent += " A valuer will work it out for you instead.";
    } else {
      block.hidden = false;
      var pcm = letting ? " a month" : "";
      this.$("[data-slot=kicker]").textContent = letting ? "Estimated rent" : "Estimated value";
      this.$("[data-slot=estimate]").textContent = money.format(mid) + pcm;
      this.$("[data-slot=range]").textContent =
        "Likely between " + money.format(low) + " and " + money.format(high) + pcm;
      if (lead.valuation_status !== "Success") {
        status.hidden = false;
        status.textContent = "There were few recent sales of homes like yours close by, so this estimate draws on a wider area and is less certain than usual.";
      }
    }
    this.evidence(lead, letting);
    this.$("[data-slot=office]").textContent = lead.office_name
      ? "Our " + lead.office_name + " office will call you to arrange a free valuation by someone who knows your street."
      : brand + " will call you to arrange a free valuation by someone who knows your street.";
    this.show("result");
  };

  Form.prototype.evidence = function (lead, letting) {
    var all = lead.comparable_props || [];
    var rents = all.filter(function (c) { return c.evidence === "rent"; });
    var items = (letting && rents.length ? rents : all.filter(function (c) {
      return c.evidence === "sale";
    })).slice(0, 8);
    var box = this.$("[data-slot=evidence]");
    box.hidden = items.length === 0;
    if (!items.length) return;
    box.querySelector("h3").textContent = items[0].evidence === "rent"
      ? "Recent lettings we used" : "Recent sales we used";
    var list = this.$("[data-slot=comparables]");
    list.textContent = "";
    items.forEach(function (c) {
      var li = el("li");
      var where = c.same_property ? "Your home" : (c.address ? people(c.address) : c.postcode);
      li.appendChild(el("span", "ds-c-address", where));
      var price = c.evidence === "rent" ? money.format(c.price) + " a month" : money.format(c.price);
      var bits = [price, when(c.date), TYPES[c.property_type] || null,
                  c.distance ? metres(c.distance) + " away" : "in your postcode"];
      li.appendChild(el("span", "ds-c-facts", bits.filter(Boolean).join(" · ")));
      list.appendChild(li);
    });
    this.map(items);
  };

  /* A small map without tiles: the home in the middle, each comparable at its distance and
     bearing (square-root scale, so the nearest do not pile up), numbered as in the list. */
  Form.prototype.map = function (items) {
    var holder = this.$("[data-slot=map]");
    holder.textContent = "";
    var far = Math.max.apply(null, items.map(function (c) { return c.distance || 0; }).concat([100]));
    var size = 240, mid = 120, radius = 100;
    var plot = svg("svg", {
      viewBox: "0 0 " + size + " " + size, role: "img", class: "ds-map-svg",
      "aria-label": "Map of the " + items.length + " comparables around your home, up to " +
        metres(far) + " away; the list below gives the same."
    });
    [0.5, 1].forEach(function (share) {
      var r = radius * Math.sqrt(share);
      plot.appendChild(svg("circle", { cx: mid, cy: mid, r: r, class: "ds-ring" }));
      // Each ring's distance on its south-east side, clear of the north mark.
      plot.appendChild(svg("text", { x: mid + r * 0.71 + 2, y: mid + r * 0.71 + 10,
        class: "ds-ring-label" }, metres(Math.round(far * share / 10) * 10)));
    });
    plot.appendChild(svg("text", { x: mid, y: 10, class: "ds-north" }, "N"));
    // Those in the home's own postcode have no bearing: a small ring around the home.
    var here = items.filter(function (c) { return c.bearing == null; });
    items.forEach(function (c, i) {
      var at = here.indexOf(c);
      var r = at >= 0 ? 22 : Math.max(22, radius * Math.sqrt((c.distance || 0) / far));
      var angle = ((at >= 0 ? (360 / here.length) * at : c.bearing) * Math.PI) / 180;
      var x = mid + r * Math.sin(angle), y = mid - r * Math.cos(angle);
      var g = svg("g", { class: c.same_property ? "ds-dot ds-dot-home" : "ds-dot" });
      g.appendChild(svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 9 }));
      g.appendChild(svg("text", { x: x.toFixed(1), y: (y + 3.5).toFixed(1) }, String(i + 1)));
      plot.appendChild(g);
    });
    var home = svg("g", { class: "ds-home" });
    home.appendChild(svg("path", { d: "M" + mid + " " + (mid - 9) + " l9 8 v9 h-18 v-9 z" }));
    home.appendChild(svg("title", {}, "Your home"));
    plot.appendChild(home);
    holder.appendChild(plot);
  };

  // In an iframe, tell the embedding page how tall the form is (embed.js sizes the frame).
  Form.prototype.reportHeight = function () {
    if (window.parent === window) return;
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    window.parent.postMessage({ type: "doorstep:height", height: height }, "*");
  };

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".ds-value"), function (root) {
      if (root.dataset.ready) return;
      root.dataset.ready = "1";
      root.doorstep = new Form(root);
    });
  }

  window.DoorstepValue = { start: start };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.addEventListener("resize", function () {
    var root = document.querySelector(".ds-value");
    if (root && root.doorstep) root.doorstep.reportHeight();
  });
})();
