// SCC live pages: listen to the server's change feed (Server-Sent Events) and refresh the parts
// of the page marked data-live-region by re-fetching this same URL; the server renders everything,
// so no untrusted text is ever turned into markup here.
"use strict";
(function () {
  var body = document.body;
  var liveUrl = body.getAttribute("data-live-url");
  var scope = body.getAttribute("data-live-scope") || "all";
  var statusEl = document.getElementById("live-status");
  var refreshTimer = null;
  var refreshing = false;
  var pendingAgain = false;
  var REFRESH_DELAY_MS = 400;

  function setStatus(live) {
    if (!statusEl) return;
    statusEl.textContent = live ? body.getAttribute("data-live-word") : body.getAttribute("data-offline-word");
    statusEl.classList.toggle("is-live", live);
    statusEl.classList.toggle("is-down", !live);
  }

  function relevant(change) {
    if (scope === "all") return true;
    var parts = scope.split(":");
    if (parts[0] === "camera") {
      return String(change.camera) === parts[1] || change.kind.indexOf("agent") === 0 && change.regency === parts[2] ||
        change.kind === "command_result";
    }
    return change.regency === scope || change.regency === null;
  }

  function swapRegions(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var regions = document.querySelectorAll("[data-live-region]");
    for (var i = 0; i < regions.length; i++) {
      var old = regions[i];
      if (!old.id) continue;
      var replacement = fresh.getElementById(old.id);
      if (replacement) old.replaceWith(document.importNode(replacement, true));
    }
    body.setAttribute("data-refreshed", String(Date.now()));
    document.dispatchEvent(new CustomEvent("scc:refreshed"));
  }

  function refresh() {
    if (refreshing) { pendingAgain = true; return; }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-SCC-Live": "1" } })
      .then(function (response) {
        if (response.redirected || !response.ok) throw new Error("refresh failed: " + response.status);
        return response.text();
      })
      .then(swapRegions)
      .catch(function () { /* the next change or reconnect tries again */ })
      .then(function () {
        refreshing = false;
        if (pendingAgain) { pendingAgain = false; scheduleRefresh(); }
      });
  }

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(function () { refreshTimer = null; refresh(); }, REFRESH_DELAY_MS);
  }

  function connect() {
    if (!liveUrl || !window.EventSource) return;
    var url = liveUrl;
    if (/^\d{2}\.\d{2}$/.test(scope)) url += "?regency=" + encodeURIComponent(scope);
    var source = new EventSource(url);
    var opened = false;
    source.addEventListener("open", function () { setStatus(true); });
    source.addEventListener("hello", function () {
      setStatus(true);
      // After a reconnect, catch up on anything missed while the stream was down.
      if (opened) scheduleRefresh();
      opened = true;
    });
    source.addEventListener("change", function (event) {
      var change;
      try { change = JSON.parse(event.data); } catch (e) { return; }
      if (relevant(change)) scheduleRefresh();
    });
    source.addEventListener("error", function () {
      setStatus(false);
      // The browser reconnects by itself unless the server refused us (401): then log in again.
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(function () { window.location.reload(); }, 5000);
      }
    });
  }

  // The video wall: go to the next screen after a while, and refresh pictures in between.
  function wall() {
    var root = document.querySelector(".wall-root");
    if (!root) return;
    var rotateS = parseInt(root.getAttribute("data-rotate-s"), 10) || 20;
    var refreshS = parseInt(root.getAttribute("data-refresh-s"), 10) || 15;
    var next = root.getAttribute("data-next-url");
    if (next) window.setTimeout(function () { window.location.assign(next); }, rotateS * 1000);
    window.setInterval(refresh, refreshS * 1000);
    // The server's configured zone, not the browser's: the wall shows the command room's time.
    var zone = root.getAttribute("data-zone") || "Asia/Jakarta";
    var zoneAbbr = root.getAttribute("data-zone-abbr") || "WIB";
    var clock = function () {
      var el = document.querySelector(".wall-clock");
      if (!el) return;
      el.textContent = new Intl.DateTimeFormat("id-ID", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
      }).format(new Date()).replace(/\./g, ":") + " " + zoneAbbr;
    };
    clock();
    window.setInterval(clock, 1000);
  }

  connect();
  wall();
})();
