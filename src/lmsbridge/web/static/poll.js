// Live progress without a build step: an element with data-poll-url is replaced by a fresh copy of
// itself from that URL every data-poll-ms, until the copy no longer asks to be polled.
(function () {
  "use strict";
  function poll(element) {
    var url = element.getAttribute("data-poll-url");
    var every = parseInt(element.getAttribute("data-poll-ms") || "1000", 10);
    window.setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(response.status); }
          return response.text();
        })
        .then(function (text) {
          var holder = document.createElement("div");
          holder.innerHTML = text.trim();
          var fresh = holder.firstElementChild;
          if (!fresh || !element.parentNode) { return; }
          element.parentNode.replaceChild(fresh, element);
          if (fresh.hasAttribute("data-poll-url")) { poll(fresh); }
        })
        .catch(function () { poll(element); });
    }, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
