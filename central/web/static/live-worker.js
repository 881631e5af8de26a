// SCC's one live connection per browser: a SharedWorker holding the Server-Sent Events stream that every
// open SCC tab of this browser listens to. Tabs connect with {type: "hello", url}; each change is passed to
// every tab, which decides whether its page is affected. The stream closes when the last tab says "bye"
// (or the browser ends the worker with its last tab), so a closed browser frees its stream at once.
"use strict";
var ports = [];
var source = null;
var live = false;
var everOpened = false;

function post(message) {
  for (var i = 0; i < ports.length; i++) ports[i].postMessage(message);
}

function open(url) {
  if (source) return;
  source = new EventSource(url);
  source.addEventListener("open", function () { live = true; post({ type: "status", live: true }); });
  source.addEventListener("hello", function () {
    live = true;
    post({ type: "hello", reconnected: everOpened });
    everOpened = true;
  });
  source.addEventListener("change", function (event) { post({ type: "change", data: event.data }); });
  source.addEventListener("error", function () {
    live = false;
    post({ type: "status", live: false });
    if (source && source.readyState === EventSource.CLOSED) {
      post({ type: "closed" });
      source = null;
    }
  });
}

self.addEventListener("connect", function (event) {
  var port = event.ports[0];
  ports.push(port);
  port.addEventListener("message", function (message) {
    var data = message.data || {};
    if (data.type === "hello") {
      if (ports.indexOf(port) < 0) ports.push(port);  // back from the back/forward cache
      open(data.url);
      port.postMessage({ type: "status", live: live });
    } else if (data.type === "bye") {
      ports = ports.filter(function (p) { return p !== port; });
      if (!ports.length && source) { source.close(); source = null; live = false; everOpened = false; }
    }
  });
  port.start();
});
