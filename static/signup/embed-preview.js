// Admin live preview: list the loader's DOM events as a host page would receive them.
(function () {
  var list = document.getElementById("embed-events");
  ["ready", "resized", "validation_failed", "submitted", "code_sent", "confirmed", "error"].forEach(function (type) {
    document.addEventListener("signup:" + type, function (event) {
      var item = document.createElement("li");
      item.textContent = JSON.stringify(event.detail);
      list.appendChild(item);
    });
  });
})();
