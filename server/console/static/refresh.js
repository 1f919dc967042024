// A page that watches something running (a connection test) reloads itself every few seconds
// while an element carries data-refresh="<seconds>"; without script the page's Refresh link does it.
(function () {
  "use strict";
  var marked = document.querySelector("[data-refresh]");
  if (!marked) { return; }
  var seconds = parseInt(marked.getAttribute("data-refresh"), 10) || 5;
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();
