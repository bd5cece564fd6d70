// Fills UserContextData.EncodedData from Cognito's threat-protection script just before submit.
(function () {
  var script = document.currentScript;
  var poolId = script.getAttribute("data-user-pool-id");
  var clientId = script.getAttribute("data-client-id");
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var target = form.querySelector("#user_context_data");
    var username = form.querySelector("[name=username]");
    if (!target || !username || typeof AmazonCognitoAdvancedSecurityData === "undefined") return;
    try {
      target.value = AmazonCognitoAdvancedSecurityData.getData(username.value, poolId, clientId) || "";
    } catch (e) {
      target.value = "";
    }
  }, true);
})();
