// The login link's token rides in the address's fragment (never sent to a server, so never in a
// request log); this puts it into the form that spends it, and takes it out of the address bar.
"use strict";

(function () {
  const field = document.getElementById("link-token");
  const token = window.location.hash.slice(1);
  if (field && token) {
    field.value = token;
    history.replaceState(null, "", window.location.pathname);
  }
})();
