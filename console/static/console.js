// The console's own script: times in the browser's zone. Pages are written
// in UTC (<time datetime="…Z">); this rewrites them in local time, also in
// the parts htmx swaps in. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  function localTimes(root) {
    var els = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute("datetime"));
      if (!isNaN(d)) {
        els[i].title = els[i].textContent;
        els[i].textContent = fmt.format(d);
        els[i].setAttribute("data-local", "1");
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localTimes(e.target); });
})();
