// Progressive enhancement of the sign-up form. The page works without this file; with it, the
// password checklist ticks as the user types, fields are checked on blur with the server's own
// messages, a submit cannot be sent twice, and the password can be shown.
(function () {
  "use strict";
  var form = document.getElementById("signup-form");
  var config = JSON.parse((document.getElementById("signup-messages") || {}).textContent || "{}");
  var messages = config || {};
  var policy = messages.policy || null;

  function format(template, n) { return template.replace("%(limit_value)s", n); }

  // --- Password rules: the same rules, in the same order, as PasswordPolicy.failures ---------------
  function passwordFailures(password) {
    var failed = [];
    if (!policy) return failed;
    var inner = password.trim();
    if (password !== inner) failed.push("password_edge_space");
    if (password.length > policy.maximum_length) failed.push("password_too_long");
    if (password.length < policy.minimum_length) failed.push("password_too_short");
    if (policy.require_uppercase && !/[A-Z]/.test(password)) failed.push("password_no_upper");
    if (policy.require_lowercase && !/[a-z]/.test(password)) failed.push("password_no_lower");
    if (policy.require_numbers && !/[0-9]/.test(password)) failed.push("password_no_number");
    if (policy.require_symbols) {
      var hasSymbol = false;
      for (var i = 0; i < inner.length; i++) {
        if (policy.symbols.indexOf(inner[i]) !== -1 || inner[i] === " ") { hasSymbol = true; break; }
      }
      if (!hasSymbol) failed.push("password_no_symbol");
    }
    return failed;
  }
  window.signupPasswordFailures = passwordFailures;  // for the browser tests' cross-check

  function updateChecklist(input) {
    var list = document.getElementById(input.id + "_policy");
    if (!list) return;
    var failed = passwordFailures(input.value);
    list.querySelectorAll("li[data-rule]").forEach(function (item) {
      var met = input.value.length > 0 && failed.indexOf(item.getAttribute("data-rule")) === -1;
      item.classList.toggle("met", met);
      item.classList.toggle("unmet", input.value.length > 0 && !met);
      var state = item.querySelector(".rule-state");
      if (state) state.textContent = input.value.length ? " " + (met ? messages.rule_met : messages.rule_unmet) : "";
    });
  }

  // --- Field checks on blur, with the server's messages ------------------------------------------
  var E164 = /^\+[1-9]\d{1,14}$/;
  var EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  var ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

  function problem(input) {
    var value = input.type === "checkbox" ? (input.checked ? "on" : "") : input.value.trim();
    if (!value) return input.required ? messages.required : "";
    if (input.name === "password") return "";  // the checklist speaks for the password
    if (input.type === "email" && !EMAIL.test(value)) return messages.invalid_email;
    if (input.type === "tel" && !E164.test(value.replace(/[\s().-]/g, ""))) {
      return messages.invalid_phone + " " + messages.phone_hint;
    }
    if (input.type === "date" && !ISO_DATE.test(value) && isNaN(Date.parse(value))) return messages.invalid_date;
    if (input.type === "url" && !/^https?:\/\/\S+\.\S+/.test(value) && !/^\S+\.\S+/.test(value)) {
      return messages.invalid_url;
    }
    if (input.type === "number") {
      if (!/^[+-]?\d+$/.test(value)) return messages.invalid_number;
      if (input.min !== "" && Number(value) < Number(input.min)) return format(messages.too_small, input.min);
      if (input.max !== "" && Number(value) > Number(input.max)) return format(messages.too_large, input.max);
    }
    var min = input.getAttribute("minlength"), max = input.getAttribute("maxlength");
    if (min && value.length < Number(min)) return format(messages.too_short, min);
    if (max && value.length > Number(max)) return format(messages.too_long, max);
    return "";
  }

  function describedBy(input, id, on) {
    var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    ids = ids.filter(function (x) { return x !== id; });
    if (on) ids.push(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  function show(input, text) {
    var field = input.closest(".field");
    if (!field) return;
    var box = field.querySelector(".field-errors");
    var id = input.id + "_error1";
    field.querySelectorAll(".field-errors .error").forEach(function (old) {
      describedBy(input, old.id, false);
      old.remove();
    });
    field.classList.toggle("has-error", !!text);
    if (text) {
      var p = document.createElement("p");
      p.className = "error";
      p.id = id;
      p.textContent = text;
      box.appendChild(p);
      input.setAttribute("aria-invalid", "true");
      describedBy(input, id, true);
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function check(input) {
    var text = problem(input);
    show(input, text);
    return !text;
  }

  function inputs() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.id && el.closest(".field") && el.type !== "hidden" && el.type !== "submit" && el.type !== "button";
    });
  }

  function summarise(invalid) {
    var summary = document.getElementById("error-summary");
    if (!summary) {
      summary = document.createElement("div");
      summary.id = "error-summary";
      summary.className = "errors";
      summary.setAttribute("role", "alert");
      summary.setAttribute("tabindex", "-1");
      form.parentNode.insertBefore(summary, form);
    }
    summary.textContent = "";
    var title = document.createElement("h2");
    title.id = "error-summary-title";
    title.textContent = messages.summary_title;
    summary.appendChild(title);
    summary.setAttribute("aria-labelledby", title.id);
    var list = document.createElement("ul");
    invalid.forEach(function (input) {
      var label = form.querySelector("label[for='" + input.id + "']");
      var error = document.getElementById(input.id + "_error1");
      var link = document.createElement("a");
      link.href = "#" + input.id;
      link.textContent = (label ? label.textContent.replace(/\s*\*$/, "") : input.name) + ": " +
        (error ? error.textContent : "");
      var item = document.createElement("li");
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.appendChild(list);
    summary.focus();
    document.dispatchEvent(new CustomEvent("signup:validation-failed"));
  }

  // --- Wiring -----------------------------------------------------------------------------------
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  if (!form) return;

  inputs().forEach(function (input) {
    input.addEventListener("blur", function () { if (input.value || input.dataset.touched) check(input); });
    input.addEventListener("input", function () {
      input.dataset.touched = "1";
      if (input.getAttribute("aria-invalid") === "true") check(input);
      if (input.name === "password") updateChecklist(input);
    });
  });

  var password = form.querySelector("input[name=password]");
  var toggle = form.querySelector(".toggle-password");
  if (password && toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var showing = password.type === "text";
      password.type = showing ? "password" : "text";
      toggle.setAttribute("aria-pressed", showing ? "false" : "true");
      toggle.textContent = showing ? messages.show_password : messages.hide_password;
    });
  }

  var button = form.querySelector("button[type=submit]");
  var busy = form.querySelector(".busy");
  form.addEventListener("submit", function (event) {
    if (form.dataset.submitting) { event.preventDefault(); return; }
    var invalid = inputs().filter(function (input) { return !check(input); });
    if (password && password.value && passwordFailures(password.value).length) {
      updateChecklist(password);
      show(password, messages.password_rejected);
      if (invalid.indexOf(password) === -1) invalid.push(password);
    }
    if (invalid.length) { event.preventDefault(); summarise(invalid); return; }
    form.dataset.submitting = "1";
    if (password) password.type = "password";
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (busy) busy.textContent = messages.busy;
  });
  // Coming back with the Back button must not leave the form locked.
  window.addEventListener("pageshow", function () {
    delete form.dataset.submitting;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busy) busy.textContent = "";
  });
})();
