// The Hosts page: an admin approves a pending host key after a confirm
// dialog that shows its fingerprint. Every value shown comes from data-
// attributes and is inserted as text.
(function () {
  "use strict";
  var errEl = document.getElementById("hosterror");
  function fail(msg) {
    errEl.textContent = msg;
    errEl.hidden = false;
  }
  Array.prototype.forEach.call(document.querySelectorAll("button.approve"), function (btn) {
    btn.addEventListener("click", function () {
      var host = btn.dataset.host, fp = btn.dataset.fingerprint, replace = btn.dataset.replace === "true";
      var question = replace
        ? "The host key of " + host + " CHANGED. Replace the trusted key with this one?\n\n" + btn.dataset.type + " " + fp +
          "\n\nOnly if the host was reinstalled and this is its new key (ssh-keygen -lf on the host shows it); otherwise someone may be intercepting the connection."
        : "Approve this host key for " + host + "?\n\n" + btn.dataset.type + " " + fp +
          "\n\nCompare it with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host).";
      if (!window.confirm(question)) return;
      btn.disabled = true;
      fetch("/api/hosts/" + encodeURIComponent(host) + "/keys/approve", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ fingerprint: fp, replace: replace })
      }).then(function (r) {
        return r.json().then(function (b) {
          if (!r.ok) throw new Error(b.error ? b.error.message : "the server answered " + r.status);
          location.reload();
        });
      }).catch(function (e) {
        btn.disabled = false;
        fail(e.message);
      });
    });
  });
})();
