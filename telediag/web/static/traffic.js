// The raw-traffic section of a tracker's page: every element carrying data-traffic="URL" is filled
// with the fragment the same origin answers at URL once the page has loaded, and again when a
// data-traffic-refresh button in the same section is pressed. Anything but a fragment (a redirect to
// the sign-in page, a 404 for a role without the right) leaves the element as it is: a link to the
// frames' own page.
(function () {
  "use strict";

  function load(element) {
    fetch(element.dataset.traffic, {credentials: "same-origin", redirect: "manual", headers: {"Accept": "text/html"}})
      .then(function (answer) {
        if (answer.status !== 200 || !answer.headers.get("X-Telediag-Fragment")) {
          element.dataset.trafficStale = "1";
          return null;
        }
        return answer.text();
      })
      .then(function (html) {
        if (html !== null) {
          element.innerHTML = html;
          element.dataset.trafficStale = "0";
          element.dataset.trafficLoaded = new Date().toISOString();
        }
      })
      .catch(function () {
        element.dataset.trafficStale = "1";
      });
  }

  function start() {
    Array.prototype.slice.call(document.querySelectorAll("[data-traffic]")).forEach(function (element) {
      load(element);
      var section = element.closest("section");
      var button = section ? section.querySelector("[data-traffic-refresh]") : null;
      if (button) {
        button.addEventListener("click", function () { load(element); });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
