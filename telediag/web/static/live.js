// Live parts of a console page, without reloading it: every element carrying data-live="URL" is
// replaced by the HTML fragment the same origin answers at URL, every data-live-interval seconds
// (default 10) while the page is visible, and at once when the page becomes visible again.
// The server marks fragments with the header X-Telediag-Fragment; anything else (a redirect to the
// sign-in page after the session ended, an error page) leaves the element as it is.
(function () {
  "use strict";

  function refresh(element) {
    if (document.hidden || element.dataset.liveBusy === "1") {
      return;
    }
    element.dataset.liveBusy = "1";
    fetch(element.dataset.live, {credentials: "same-origin", redirect: "manual", headers: {"Accept": "text/html"}})
      .then(function (answer) {
        if (answer.status !== 200 || !answer.headers.get("X-Telediag-Fragment")) {
          element.dataset.liveStale = "1";
          return null;
        }
        return answer.text();
      })
      .then(function (html) {
        if (html !== null) {
          element.innerHTML = html;
          element.dataset.liveStale = "0";
          element.dataset.liveUpdated = new Date().toISOString();
          element.dispatchEvent(new CustomEvent("telediag:live", {bubbles: true}));
        }
      })
      .catch(function () {
        element.dataset.liveStale = "1";
      })
      .finally(function () {
        element.dataset.liveBusy = "0";
      });
  }

  function start() {
    var live = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
    live.forEach(function (element) {
      var seconds = Math.max(1, parseFloat(element.dataset.liveInterval || "10") || 10);
      window.setInterval(function () { refresh(element); }, seconds * 1000);
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        live.forEach(refresh);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
