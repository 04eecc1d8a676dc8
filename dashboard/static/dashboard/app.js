// Mobul dashboard: small progressive enhancements. Loaded as a static file (strict CSP: no inline script).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // Forms marked data-confirm ask before submitting (cancel a campaign, revoke a key).
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  // A select marked data-autosubmit submits its form on change (the client switcher).
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // Buttons marked data-copy="#selector" copy that field's value (the new API key).
  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.querySelector(button.getAttribute("data-copy"));
        if (!field) return;
        field.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(field.value).then(done);
        else { document.execCommand("copy"); done(); }
      });
    });
  }

  // Reads a status URL (JSON) for `onData`; after a network or HTTP error, tells `onError` (if given) and reads
  // it again in 3 s.
  function pollJson(url, onData, onError) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(onData)
      .catch(function () {
        if (onError) onError();
        window.setTimeout(function () { pollJson(url, onData, onError); }, 3000);
      });
  }

  // The import page polls its status URL and moves the bar until the job has finished, then shows the result;
  // a failed job's bar goes away (the result says why nothing was imported).
  function importProgress() {
    var panel = document.querySelector("[data-import-status-url]");
    if (!panel) return;
    var url = panel.getAttribute("data-import-status-url");
    var barBox = document.getElementById("import-bar");
    var bar = document.getElementById("import-progress");
    var percent = document.getElementById("import-percent");
    var count = document.getElementById("import-count");
    var state = document.getElementById("import-state");
    var result = document.getElementById("import-result");
    var delay = 500;
    var formatter = new Intl.NumberFormat();

    function render(data) {
      barBox.hidden = data.failed;
      bar.value = data.percent;
      bar.textContent = data.percent + " %";
      percent.textContent = data.percent;
      count.textContent = formatter.format(data.rows_done) + " of " + formatter.format(data.rows_total) + " rows";
      state.textContent = data.status_label;
      state.className = "badge badge-import-" + data.status;
    }

    function poll() {
      pollJson(url, function (data) {
        render(data);
        panel.setAttribute("data-polled", "true");
        if (data.finished) {
          result.innerHTML = data.result_html;
          panel.setAttribute("data-finished", "true");
        } else {
          delay = Math.min(delay * 1.5, 3000);
          window.setTimeout(poll, delay);
        }
      }, function () { count.textContent = "Connection lost; retrying…"; });
    }
    poll();
  }

  // A proof being rendered: the campaign page polls its status, moves the bar, and reloads once it has finished.
  function proofProgress() {
    var panel = document.querySelector("[data-proof-status-url]");
    if (!panel) return;
    var url = panel.getAttribute("data-proof-status-url");
    var bar = document.getElementById("proof-progress");
    var count = document.getElementById("proof-count");
    var state = document.getElementById("proof-state");

    function poll() {
      pollJson(url, function (data) {
        if (data.finished) { window.location.reload(); return; }
        bar.value = data.percent;
        count.textContent = data.pieces_done + " of " + (data.pieces_total || "?") + " pieces";
        state.textContent = data.status_label;
        window.setTimeout(poll, 1000);
      });
    }
    poll();
  }

  // The agent screen reads its call lists again every 15 s and swaps them in when they changed, without a reload:
  // a polite status line says so (a screen reader is not read the whole list again) and a focused link keeps
  // the focus.
  function agentCalls() {
    var region = document.getElementById("agent-calls");
    if (!region) return;
    var url = region.getAttribute("data-refresh-url");
    var status = document.getElementById("agent-calls-status");

    function swap(fresh) {
      var focused = region.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
      region.innerHTML = fresh.innerHTML;
      if (focused) {
        var again = region.querySelector('a[href="' + focused + '"]');
        (again || region).focus();
      }
      var live = region.querySelector('[data-count="live"]');
      status.textContent = "Calls updated" + (live ? ": " + live.textContent + " live now." : ".");
    }

    var timer = null;

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 15000);
    }

    function refresh() {
      // A hidden tab asks for nothing; it catches up as soon as it is shown again.
      if (document.hidden) return;
      fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          // Parsed and serialised by the browser, as the list on the page is: equal text means nothing changed.
          var fresh = document.createElement("template");
          fresh.innerHTML = html;
          if (fresh.innerHTML !== region.innerHTML) swap(fresh);
          region.setAttribute("data-refreshed", String(Number(region.getAttribute("data-refreshed") || 0) + 1));
        })
        .catch(function () { status.textContent = "Connection lost; retrying…"; })
        .then(later);
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) refresh();
    });
    later();
  }

  ready(function () {
    agentCalls();
    confirmations();
    autosubmit();
    copyButtons();
    importProgress();
    proofProgress();
  });
})();
