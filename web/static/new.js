// The new-job form: posts JSON to the API and opens the job's live page.
(function () {
  "use strict";
  var form = document.getElementById("newjob");
  var errEl = document.getElementById("formerror");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errEl.hidden = true;
    var hosts = Array.prototype.map.call(form.querySelectorAll('input[name="hosts"]:checked'), function (el) { return el.value; });
    var body = { command: form.command.value, hosts: hosts, selector: form.selector.value.trim(), pty: form.pty.checked };
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
