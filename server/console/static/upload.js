// A large grant file's upload shows its progress: the form is sent by XMLHttpRequest while a
// <progress> fills; the page the server answers with (the file's check) then opens. Without
// script, or if the browser cannot, the form is sent as usual.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload-progress]");
  if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
  var bar = document.getElementById(form.getAttribute("data-upload-progress"));
  form.addEventListener("submit", function (event) {
    var request = new XMLHttpRequest();
    event.preventDefault();
    bar.hidden = false;
    request.upload.addEventListener("progress", function (sent) {
      if (sent.lengthComputable) { bar.max = sent.total; bar.value = sent.loaded; }
    });
    request.addEventListener("load", function () {
      if (request.responseURL && request.responseURL !== window.location.href) {
        window.location.assign(request.responseURL);
      } else {
        document.open(); document.write(request.responseText); document.close();
      }
    });
    request.addEventListener("error", function () { form.submit(); });
    request.open("POST", form.action || window.location.href);
    request.send(new FormData(form));
  });
})();
