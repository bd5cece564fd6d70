// The customer's one tag:
//   <script src="https://PORTAL/static/signup/embed.js" data-portal="SLUG" async></script>
// Optional: data-lang="de", data-theme="light|dark", data-title="…", data-analytics-endpoint-id="…",
// data-client-metadata='{"campaign": "spring"}' (only keys the portal lets through are used).
// It puts a titled iframe after the tag, sizes it to its content, and re-dispatches what happens
// inside as DOM events on the tag: signup:ready, signup:resized, signup:validation_failed,
// signup:submitted, signup:code_sent, signup:confirmed, signup:error. No event carries personal data.
(function () {
  "use strict";
  var MIN_HEIGHT = 100;
  var MAX_HEIGHT = 5000;
  var counter = 0;

  function randomId() {
    var bytes = new Uint8Array(8);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function mount(script) {
    if (script.getAttribute("data-signup-mounted")) return;
    script.setAttribute("data-signup-mounted", "1");
    var slug = script.getAttribute("data-portal");
    if (!slug || !/^[-\w]+$/.test(slug)) return;
    var portalOrigin = new URL(script.src, document.baseURI).origin;
    var embedId = "s" + (++counter) + "-" + randomId();

    var params = new URLSearchParams();
    params.set("parent", window.location.origin);
    params.set("embed", embedId);
    var lang = script.getAttribute("data-lang");
    if (lang) params.set("lang", lang);
    var theme = script.getAttribute("data-theme");
    if (theme) params.set("theme", theme);
    var analytics = script.getAttribute("data-analytics-endpoint-id");
    if (analytics) params.set("analytics_endpoint_id", analytics);
    var metadata = script.getAttribute("data-client-metadata");
    if (metadata) {
      try {
        var pairs = JSON.parse(metadata);
        Object.keys(pairs).forEach(function (key) {
          if (typeof pairs[key] === "string" && key !== "parent" && key !== "embed") params.set(key, pairs[key]);
        });
      } catch (e) { /* a malformed attribute is ignored, not fatal to the host page */ }
    }

    var frame = document.createElement("iframe");
    frame.src = portalOrigin + "/embed/" + encodeURIComponent(slug) + "/?" + params.toString();
    frame.title = script.getAttribute("data-title") || "Sign-up form";
    frame.setAttribute("allow", "");
    frame.setAttribute("loading", "eager");
    // A first height close to the form's keeps the page from jumping; the frame then reports its own.
    frame.style.cssText = "display:block;width:100%;border:0;overflow:hidden;height:" +
      (Number(script.getAttribute("data-initial-height")) || 720) + "px";
    frame.setAttribute("scrolling", "no");
    script.parentNode.insertBefore(frame, script.nextSibling);

    window.addEventListener("message", function (event) {
      if (event.origin !== portalOrigin || event.source !== frame.contentWindow) return;
      var data = event.data;
      if (!data || data.source !== "cognito-signup" || data.embed !== embedId || typeof data.type !== "string") return;
      if (!/^[a-z_]{1,32}$/.test(data.type)) return;
      var detail = { type: data.type, portal: slug, embed: embedId };
      if (data.type === "resized") {
        var height = Number(data.height);
        if (!isFinite(height)) return;
        height = Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, Math.ceil(height)));
        frame.style.height = height + "px";
        detail.height = height;
      }
      script.dispatchEvent(new CustomEvent("signup:" + data.type, { detail: detail, bubbles: true }));
    });
  }

  if (document.currentScript) mount(document.currentScript);
  // async tags may run after currentScript is gone; mount any tag not mounted yet.
  Array.prototype.forEach.call(document.querySelectorAll("script[data-portal][src*='/signup/embed.js']"), mount);
})();
