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
    var freshRoot = fresh.querySelector(".wall-root");
    var root = document.querySelector(".wall-root");
    if (freshRoot && root) root.setAttribute("data-next-url", freshRoot.getAttribute("data-next-url") || "");
    var regions = document.querySelectorAll("[data-live-region]");
    for (var i = 0; i < regions.length; i++) {
      var old = regions[i];
      if (!old.id) continue;
      var replacement = fresh.getElementById(old.id);
      if (!replacement) continue;
      var node = document.importNode(replacement, true);
      // A live picture stays the element it is: a new <img> would open a new stream (and audit row).
      var kept = old.querySelectorAll("[data-live-keep][id]");
      for (var k = 0; k < kept.length; k++) {
        var twin = node.querySelector("#" + CSS.escape(kept[k].id));
        if (twin) twin.replaceWith(kept[k]);
      }
      old.replaceWith(node);
    }
    body.setAttribute("data-refreshed", String(Date.now()));
    document.dispatchEvent(new CustomEvent("scc:refreshed"));
  }

  function refresh(url) {
    if (refreshing) { pendingAgain = true; return; }
    refreshing = true;
    var target = typeof url === "string" ? url : window.location.href;
    fetch(target, { credentials: "same-origin", headers: { "X-SCC-Live": "1" } })
      .then(function (response) {
        if (response.redirected || !response.ok) throw new Error("refresh failed: " + response.status);
        return response.text();
      })
      .then(function (html) {
        swapRegions(html);
        if (target !== window.location.href) window.history.replaceState(null, "", target);
      })
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

  function onChange(data) {
    var change;
    try { change = JSON.parse(data); } catch (e) { return; }
    if (relevant(change)) scheduleRefresh();
  }

  // One live connection per browser: the tabs share a SharedWorker's stream (static/live-worker.js), so
  // any number of open SCC tabs hold one server connection. A browser without SharedWorker opens its own.
  function connect() {
    if (!liveUrl || !window.EventSource) return;
    var workerUrl = body.getAttribute("data-live-worker");
    if (window.SharedWorker && workerUrl) {
      var worker = new SharedWorker(workerUrl, { name: "scc-live " + liveUrl });
      var port = worker.port;
      port.onmessage = function (event) {
        var message = event.data || {};
        if (message.type === "status") setStatus(message.live);
        else if (message.type === "hello") { setStatus(true); if (message.reconnected) scheduleRefresh(); }
        else if (message.type === "change") onChange(message.data);
        else if (message.type === "closed") window.setTimeout(function () { window.location.reload(); }, 5000);
      };
      port.start();
      port.postMessage({ type: "hello", url: new URL(liveUrl, window.location.href).toString() });
      var hello = function () { port.postMessage({ type: "hello", url: new URL(liveUrl, window.location.href).toString() }); };
      window.addEventListener("pagehide", function () { port.postMessage({ type: "bye" }); });
      window.addEventListener("pageshow", function (event) { if (event.persisted) hello(); });
      return;
    }
    var source = new EventSource(liveUrl);
    var opened = false;
    source.addEventListener("open", function () { setStatus(true); });
    source.addEventListener("hello", function () {
      setStatus(true);
      // After a reconnect, catch up on anything missed while the stream was down.
      if (opened) scheduleRefresh();
      opened = true;
    });
    source.addEventListener("change", function (event) { onChange(event.data); });
    source.addEventListener("error", function () {
      setStatus(false);
      // The browser reconnects by itself unless the server refused us (401): then log in again.
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(function () { window.location.reload(); }, 5000);
      }
    });
  }

  // The video wall. Tiles per screen follow the screen's size; the next screen is fetched and swapped in
  // (never a page load, so the alarm sound armed by a click stays allowed); the alarm flashes and sounds
  // while the server lists an unacknowledged critical alert, on every screen, until one acknowledges it.
  var TILE_MIN_W = 280, TILE_MIN_H = 160, GRID_SHARE = 0.66;

  function tilesForScreen() {
    var cols = Math.max(1, Math.floor(window.innerWidth / TILE_MIN_W));
    var rows = Math.max(1, Math.floor(window.innerHeight * GRID_SHARE / TILE_MIN_H));
    return Math.min(48, Math.max(4, cols * rows));
  }

  function wall() {
    var root = document.querySelector(".wall-root");
    if (!root) return;
    var here = new URL(window.location.href);
    if (!here.searchParams.has("per")) {
      var per = tilesForScreen();
      if (String(per) !== root.getAttribute("data-per")) {
        here.searchParams.set("per", String(per));
        window.location.replace(here.toString());
        return;
      }
    }
    var rotateS = parseInt(root.getAttribute("data-rotate-s"), 10) || 20;
    var refreshS = parseInt(root.getAttribute("data-refresh-s"), 10) || 10;
    window.setInterval(function () {
      var next = root.getAttribute("data-next-url");
      if (next) refresh(new URL(next, window.location.href).toString());
    }, rotateS * 1000);
    window.setInterval(refresh, refreshS * 1000);
    alarm();
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

  function alarm() {
    var sound = document.getElementById("alarm-sound");
    var arm = document.getElementById("alarm-arm");
    var armed = false;
    function update() {
      var region = document.getElementById("wall-alarm");
      var ringing = !!region && parseInt(region.getAttribute("data-alarms"), 10) > 0;
      body.classList.toggle("alarm-on", ringing);
      if (!sound) return;
      if (ringing && armed) {
        var playing = sound.play();
        if (playing && playing.catch) playing.catch(function () { /* blocked: the button says so */ });
      } else {
        sound.pause();
        sound.currentTime = 0;
      }
    }
    if (arm) {
      arm.addEventListener("click", function () {
        armed = true;
        arm.classList.add("is-armed");
        arm.textContent = arm.getAttribute("data-armed-word");
        // This click is the gesture browsers require before a page may make sound.
        if (sound) { sound.muted = false; sound.load(); }
        update();
      });
    }
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.hasAttribute || !form.hasAttribute("data-wall-ack")) return;
      event.preventDefault();
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function () { refresh(); });
    });
    document.addEventListener("scc:refreshed", update);
    update();
  }

  connect();
  wall();
})();
