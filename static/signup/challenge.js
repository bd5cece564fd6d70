// ALTCHA's proof of work runs in our own copy of its worker (the page's policy allows no blob: worker).
// A submit that comes before the check has finished waits for it: see form.js.
var widget = document.querySelector("altcha-widget");
if (widget && globalThis.$altcha) {
  var worker = widget.dataset.worker;
  ["PBKDF2/SHA-256", "PBKDF2/SHA-384", "PBKDF2/SHA-512"].forEach(function (algorithm) {
    globalThis.$altcha.algorithms.set(algorithm, function () { return new Worker(worker); });
  });
}
