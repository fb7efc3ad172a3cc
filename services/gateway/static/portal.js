/* Progressive enhancement of the portal: every page works without this file. */
(function () {
  "use strict";

  function showMatching(groupSelector, radioName, attr) {
    var radios = document.querySelectorAll('input[name="' + radioName + '"]');
    if (!radios.length) { return; }
    function update() {
      var checked = document.querySelector('input[name="' + radioName + '"]:checked');
      var value = checked ? checked.value : null;
      document.querySelectorAll(groupSelector).forEach(function (el) {
        var match = el.getAttribute(attr);
        var visible = value !== null && (match === value || (match === "bank" && (value === "checking" || value === "savings")));
        el.hidden = !visible;
      });
    }
    radios.forEach(function (r) { r.addEventListener("change", update); });
    update();
  }

  function toggleOtherAmount() {
    var other = document.getElementById("other-amount");
    if (!other) { return; }
    var group = other.closest(".usa-form-group");
    function update() {
      var checked = document.querySelector('input[name="amount_choice"]:checked');
      group.hidden = !(checked && checked.value === "other");
    }
    document.querySelectorAll('input[name="amount_choice"]').forEach(function (r) {
      r.addEventListener("change", update);
    });
    update();
  }

  function captchaRefresh() {
    var button = document.getElementById("captcha-refresh");
    if (!button || !window.fetch) { return; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      fetch("/api/v1/captcha", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("captcha"); } return r.json(); })
        .then(function (c) {
          document.getElementById("captcha-id").value = c.captcha_id;
          document.getElementById("captcha-image").src = c.image_url;
          document.getElementById("captcha-audio").href = c.audio_url;
          var answer = document.getElementById("captcha-answer");
          answer.value = "";
          answer.focus();
        })
        .catch(function () { button.form.submit(); });
    });
  }

  function printButton() {
    document.querySelectorAll(".portal-print").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll(".portal-print-hint").forEach(function (h) { h.hidden = true; });
  }

  function submitOnce() {
    // A double click sends a form once (payments are idempotent anyway; a CAPTCHA is not).
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.submitted === "yes") { event.preventDefault(); return; }
        form.dataset.submitted = "yes";
        window.setTimeout(function () { form.dataset.submitted = ""; }, 15000);
      });
    });
  }

  function focusErrors() {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    showMatching(".portal-id", "id_type", "data-id-type");
    showMatching(".portal-method", "method_type", "data-method");
    toggleOtherAmount();
    captchaRefresh();
    printButton();
    submitOnce();
    focusErrors();
  });
})();
