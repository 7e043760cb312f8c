// Live updates for the inbox pages: the server's event stream (GET /live/) when it is there,
// polling when it is not. Either way the page hears one DOM event, "live:changes",
// on the document (detail: the list of changes, or null for a polling tick), which app.js
// answers by fetching what changed.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var polling = null;

  function announce(changes) {
    document.dispatchEvent(new CustomEvent("live:changes", { detail: changes }));
  }

  function poll() {
    if (polling === null) {
      document.body.dataset.live = "polling";
      polling = window.setInterval(function () { announce(null); }, POLL_MS);
    }
  }

  function connect() {
    if (!window.EventSource) { poll(); return; }
    var source = new EventSource("/live/");
    source.addEventListener("changes", function (event) {
      document.body.dataset.live = "stream";
      if (polling !== null) { window.clearInterval(polling); polling = null; }
      try { announce(JSON.parse(event.data)); } catch (error) { announce(null); }
    });
    source.addEventListener("open", function () { document.body.dataset.live = "stream"; });
    source.addEventListener("error", function () {
      // Closed for good (204: no Redis; 401): poll. A broken stream reconnects by itself,
      // and the page polls meanwhile.
      poll();
      if (source.readyState === EventSource.CLOSED) { window.setTimeout(connect, 30000); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
