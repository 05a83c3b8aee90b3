// The new-job form: posts JSON to the API and opens the job's live page.
// "Run a command" or "Follow files": the parts of the other kind are hidden
// and not sent.
(function () {
  "use strict";
  var form = document.getElementById("newjob");
  var errEl = document.getElementById("formerror");

  function kind() { return form.querySelector('input[name="kind"]:checked').value; }
  function showKind() {
    var follow = kind() === "follow";
    document.getElementById("commandpart").hidden = follow;
    document.getElementById("followpart").hidden = !follow;
    document.getElementById("ptypart").hidden = follow;
    document.getElementById("timeouthint").hidden = !follow;
    document.getElementById("submit").textContent = follow ? "Follow" : "Run";
  }
  form.querySelectorAll('input[name="kind"]').forEach(function (el) { el.addEventListener("change", showKind); });
  showKind(); // a reload may keep the other choice

  // Paths one per line or separated by commas; blanks dropped.
  function paths(s) {
    return s.split(/[\n,]/).map(function (p) { return p.trim(); }).filter(function (p) { return p; });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errEl.hidden = true;
    var hosts = Array.prototype.map.call(form.querySelectorAll('input[name="hosts"]:checked'), function (el) { return el.value; });
    var body = { hosts: hosts, selector: form.selector.value.trim() };
    if (kind() === "follow") {
      body.follow = paths(form.paths.value);
      body.from = form.from.value;
      if (form.retain.value.trim()) body.retain = form.retain.value.trim();
      var pat = form.alertpattern.value, hook = form.alertwebhook.value.trim();
      if (pat || hook) body.alerts = [{ pattern: pat, webhook: hook }];
    } else {
      body.command = form.command.value;
      body.pty = form.pty.checked;
    }
    if (form.timeout.value.trim()) body.timeout = form.timeout.value.trim();
    fetch("/api/jobs", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error(b.error ? b.error.message : "the server answered " + r.status);
        location.href = "/jobs/" + b.id;
      });
    }).catch(function (e) {
      errEl.textContent = e.message;
      errEl.hidden = false;
    });
  });
})();
