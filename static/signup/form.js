// Progressive enhancement of the sign-up form. The page works without this file; with it, the
// password checklist ticks as the user types, fields are checked on blur, a submit cannot be sent
// twice, and the password can be shown.
//
// The checks are not written here: the page carries them ("signup-rules": schema.json's description
// of the form, each field with the rule the server's field registry gives it, and the messages in the
// page's language). This file only knows how to apply a rule, so one submit shows every error the
// server would show, worded as the server words it.
(function () {
  "use strict";
  var form = document.getElementById("signup-form");
  var data = JSON.parse((document.getElementById("signup-rules") || {}).textContent || "{}");
  var messages = data.messages || {};
  var policy = data.password_policy || null;
  var described = {};  // input name -> its description: "required", and the "browser" rule
  (data.fields || []).forEach(function (field) { described[field.name] = field; });
  if (data.consent) described.consent = data.consent;

  function text(code, params) {
    var words = messages[code] || code;
    Object.keys(params || {}).forEach(function (name) { words = words.split("%(" + name + ")s").join(params[name]); });
    return words;
  }

  // --- Applying a rule -----------------------------------------------------------------------------
  var compiled = {};
  function regex(source, flags) {
    var key = (flags || "") + "/" + source;
    if (!compiled[key]) compiled[key] = new RegExp(source, flags || "");
    return compiled[key];
  }
  function matches(check, value) { return regex(check.pattern, check.flags).test(value) !== !!check.negate; }

  function strip(rule, value) {
    if (!rule.strip) return value;
    return value.replace(regex("^[" + rule.strip + "]+|[" + rule.strip + "]+$", "gu"), "");
  }

  // Django's URLField: a value without what it takes for a scheme (text before a colon, starting with
  // a letter, without a slash) gets the assumed one.
  function assumeScheme(value, scheme) {
    var given = value.split(":")[0];
    if (given !== value && /^[a-z][^\/]*$/i.test(given)) return value;
    return value.slice(0, 2) === "//" ? scheme + ":" + value : scheme + "://" + value;
  }

  // Python counts characters (code points); JavaScript's length counts UTF-16 units.
  function characters(value) { return Array.from(value).length; }
  function utf8Bytes(value) { return new TextEncoder().encode(value).length; }

  // Any script's digits as ASCII ones: Unicode encodes each script's 0-9 together and in order.
  var DIGIT = /\p{Nd}/u;
  function asciiDigits(value) {
    return Array.from(value).map(function (c) {
      if (!DIGIT.test(c)) return c;
      var point = c.codePointAt(0), first = point;
      while (DIGIT.test(String.fromCodePoint(first - 1))) first--;
      return String((point - first) % 10);
    }).join("");
  }

  function compare(value, limit) {
    var number = asciiDigits(value).replace(/^\+/, "");
    if (/^-?\d+$/.test(limit)) {
      var a = BigInt(number), b = BigInt(limit);
      return a < b ? -1 : a > b ? 1 : 0;
    }
    return Number(number) - Number(limit);
  }

  // The first of the server's date formats the value fits, as {y, m, d}; true for a fit whose day
  // the page cannot tell (month names, two-digit years); null when none fits.
  function parseDate(value, formats) {
    for (var i = 0; i < formats.length; i++) {
      var found = regex(formats[i].pattern, formats[i].flags).exec(value);
      if (!found) continue;
      var g = found.groups || {};
      if (g.Y === undefined || g.m === undefined || g.d === undefined) return true;
      var y = Number(asciiDigits(g.Y)), m = Number(asciiDigits(g.m)), d = Number(asciiDigits(g.d.trim()));
      var days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
      if (y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1]) return { y: y, m: m, d: d };
    }
    return null;
  }
  function pad(n, width) { return ("000" + n).slice(-width); }

  function passes(check, value, rule) {
    if (check.pattern !== undefined) return matches(check, value);
    if (check.min_length !== undefined) return characters(value) >= check.min_length;
    if (check.max_length !== undefined) return characters(value) <= check.max_length;
    if (check.max_bytes !== undefined) return utf8Bytes(value) <= check.max_bytes;
    if (check.min_value !== undefined) return compare(value, check.min_value) >= 0;
    if (check.max_value !== undefined) return compare(value, check.max_value) <= 0;
    if (check.choices !== undefined) return check.choices.indexOf(value) !== -1;
    if (check.dates !== undefined) return parseDate(value, check.dates) !== null;
    if (check.not_after_today) {
      var day = parseDate(value, datesOf(rule));
      if (!day || day === true) return true;
      // The server's today is at most this far ahead of UTC: never refuse a date it would take.
      var latest = new Date(Date.now() + 14 * 3600 * 1000).toISOString().slice(0, 10);
      return pad(day.y, 4) + "-" + pad(day.m, 2) + "-" + pad(day.d, 2) <= latest;
    }
    return true;
  }
  function datesOf(rule) {
    var found = rule.checks.filter(function (c) { return c.dates; })[0];
    return found ? found.dates : [];
  }

  // Messages of the broken checks: the first failure ends the run, except that "collect" checks (the
  // server's validators, which all run) each add theirs.
  function failures(checks, value, rule) {
    var failed = [];
    for (var i = 0; i < checks.length; i++) {
      var check = checks[i];
      if (failed.length && !check.collect) break;
      if (check.password_policy) {
        failed = failed.concat(passwordFailures(value).map(function (code) { return text(code); }));
        continue;
      }
      if (!passes(check, value, rule)) {
        failed.push(text(check.message, check.params));
        if (!check.collect) break;
      }
    }
    return failed;
  }

  function passwordFailures(password) {
    if (!policy) return [];
    return policy.checks.filter(function (c) { return !passes(c, password); }).map(function (c) { return c.message; });
  }
  window.signupPasswordFailures = passwordFailures;  // for the browser tests' cross-check

  // Every message the server would show for this value, in its order. `username` is the value of
  // the username field, for the attributes that are needed only when it is not one of them.
  function problems(name, raw, username) {
    var rule = (described[name] || {}).browser;
    if (!rule) return [];
    var value = strip(rule, raw);
    if (!value) {
      var needed = !!described[name].required;
      var unless = rule.required_unless_username;
      if (!needed && unless && username !== undefined && username !== null) needed = !matches(unless, username);
      return needed ? [text(rule.required)] : [];
    }
    if (rule.assume_scheme) value = assumeScheme(value, rule.assume_scheme);
    return failures(rule.checks, value, rule);
  }
  window.signupProblems = problems;  // for the browser tests' cross-check with the server

  // --- The page -----------------------------------------------------------------------------------
  function valueOf(input) {
    return input.type === "checkbox" ? (input.checked ? "on" : "") : input.value;
  }

  // The username's value when it has no problem of its own (the server looks at the other
  // attributes only then), else null.
  function validUsername() {
    var input = form.querySelector("[name=username]");
    if (!input) return null;
    var value = strip((described.username || {}).browser || {}, input.value);
    return value && !problems("username", input.value).length ? value : null;
  }

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

  function describedBy(input, id, on) {
    var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    ids = ids.filter(function (x) { return x !== id; });
    if (on) ids.push(id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  // The errors as the server renders them: one paragraph each, numbered, tied to the input.
  function show(input, errors) {
    var field = input.closest(".field");
    if (!field) return;
    var box = field.querySelector(".field-errors");
    field.querySelectorAll(".field-errors .error").forEach(function (old) {
      describedBy(input, old.id, false);
      old.remove();
    });
    field.classList.toggle("has-error", errors.length > 0);
    errors.forEach(function (error, index) {
      var p = document.createElement("p");
      p.className = "error";
      p.id = input.id + "_error" + (index + 1);
      p.textContent = error;
      box.appendChild(p);
      describedBy(input, p.id, true);
    });
    if (errors.length) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function check(input) {
    var username = input.name === "username" ? undefined : validUsername();
    var errors = problems(input.name, valueOf(input), username);
    show(input, errors);
    return !errors.length;
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
    if (password && password.value) updateChecklist(password);
    if (invalid.length) { event.preventDefault(); summarise(invalid); return; }
    var challenge = form.querySelector("altcha-widget");
    if (challenge && challenge.getState && challenge.getState() !== "verified") {
      // Sent before the check that a person is here has finished: finish it first, then send.
      event.preventDefault();
      lock();
      whenVerified(challenge).then(function () {
        unlock();
        form.requestSubmit(button);
      }, unlock);
      return;
    }
    form.dataset.submitting = "1";
    if (password) password.type = "password";
    lock();
  });
  function lock() {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (busy) busy.textContent = messages.busy;
  }
  function unlock() {
    delete form.dataset.submitting;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (busy) busy.textContent = "";
  }
  function whenVerified(challenge) {
    return new Promise(function (resolve, reject) {
      function changed(event) {
        var state = event.detail && event.detail.state;
        if (state === "verified") { challenge.removeEventListener("statechange", changed); resolve(); }
        else if (state === "error" || state === "expired") { challenge.removeEventListener("statechange", changed); reject(); }
      }
      challenge.addEventListener("statechange", changed);
      if (challenge.getState() !== "verifying") challenge.verify();
    });
  }
  // Coming back with the Back button must not leave the form locked.
  window.addEventListener("pageshow", unlock);
})();
