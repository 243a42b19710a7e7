// The vsm console's one script (plain JavaScript, no libraries): keeps the live regions of a
// page up to date from their server-sent event streams. A region is an element with
// data-live="URL"; the stream sends "update" events whose data is the region's new HTML
// (rendered by the server), "done" for the last one of a finished operation, and "gone" (a
// sentence) when the page can no longer be shown. The session cookie authenticates the stream.
// A region with data-follow (a followed log) keeps its newest lines in view.
"use strict";
(function () {
  var status = document.getElementById("live-status");

  function say(cls, text) {
    if (!status) { return; }
    status.className = "live " + cls;
    status.textContent = text;
  }

  function follow(region) {
    var url = region.getAttribute("data-live");
    var source = new EventSource(url);
    function swap(e) {
      // Keep the keyboard focus on the element with the same id, if it is still there.
      var focused = document.activeElement && document.activeElement.id;
      region.innerHTML = e.data;
      if (e.lastEventId) { region.setAttribute("data-rev", e.lastEventId); }
      if (region.hasAttribute("data-follow")) {
        var pre = region.querySelector("pre");
        if (pre) { pre.scrollTop = pre.scrollHeight; }
      }
      if (focused) {
        var again = document.getElementById(focused);
        if (again) { again.focus(); }
      }
    }
    source.addEventListener("open", function () {
      say("ok", status ? status.getAttribute("data-live-text") : "");
    });
    source.addEventListener("update", swap);
    source.addEventListener("done", function (e) {
      swap(e);
      source.close();
      say("", "");
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.hidden = true; }
    });
    source.addEventListener("gone", function (e) {
      source.close();
      say("gone", e.data);
    });
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) {
        say("lost", status ? status.getAttribute("data-lost-text") : "");
      }
    });
  }

  var regions = document.querySelectorAll("[data-live]");
  for (var i = 0; i < regions.length; i++) { follow(regions[i]); }
})();
