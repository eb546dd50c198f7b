// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  var form = document.querySelector("form.upload");
  if (!form) return;
  var input = form.querySelector("input[type=file]");
  var preview = form.querySelector("[data-preview]");
  var sizeError = form.querySelector("[data-size-error]");
  var submit = form.querySelector("[data-submit]");
  var busy = form.querySelector("[data-busy]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var maxMb = form.getAttribute("data-max-mb");
  var previewUrl = null;

  function tooLarge(file) { return file && maxBytes && file.size > maxBytes; }

  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
    preview.hidden = true;
    sizeError.hidden = true;
    if (!file) return;
    if (tooLarge(file)) {
      // Say so before uploading megabytes over a site's mobile connection.
      sizeError.textContent = "This photo is larger than " + maxMb + " MB; choose a smaller one.";
      sizeError.hidden = false;
      return;
    }
    previewUrl = URL.createObjectURL(file);
    preview.onload = function () { preview.hidden = false; };
    preview.onerror = function () { preview.hidden = true; };  // e.g. HEIC in most browsers
    preview.src = previewUrl;
  });

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (tooLarge(file)) { event.preventDefault(); sizeError.hidden = false; return; }
    // Disable after the browser has collected the form data, to stop double submits.
    setTimeout(function () {
      submit.disabled = true;
      submit.textContent = "Analysing…";
      busy.hidden = false;
    }, 0);
  });

  // Coming back with the Back button restores the page from cache: re-enable the form.
  window.addEventListener("pageshow", function () {
    submit.disabled = false;
    submit.textContent = "Analyse photo";
    busy.hidden = true;
  });
})();
