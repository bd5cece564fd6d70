// Inside the frame: tell the host page what happened, only ever to the origin the server validated.
// Messages carry the event type, the embed id and a height; never anything the visitor typed.
(function () {
  "use strict";
  var body = document.body;
  var parentOrigin = body.getAttribute("data-parent");
  var embedId = body.getAttribute("data-embed");
  var portal = body.getAttribute("data-portal");
  if (!parentOrigin || window.parent === window) return;

  function send(type, extra) {
    var message = { source: "cognito-signup", type: type, embed: embedId, portal: portal };
    if (extra) for (var key in extra) message[key] = extra[key];
    window.parent.postMessage(message, parentOrigin);
  }

  var lastHeight = 0;
  function measure() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      send("resized", { height: height });
    }
  }

  send("ready");
  measure();
  if (typeof ResizeObserver === "function") new ResizeObserver(measure).observe(document.documentElement);
  else window.addEventListener("resize", measure);

  var event = body.getAttribute("data-event");
  if (event) send(event);

  document.addEventListener("signup:validation-failed", function () { send("validation_failed"); });
  document.addEventListener("submit", function (e) {
    if (e.target.id === "signup-form" && !e.defaultPrevented) send("submitted");
  });
})();
