// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.querySelector("form.upload");
  if (!form) return;
  var inputs = Array.prototype.slice.call(form.querySelectorAll("[data-photo-input]"));
  var fileName = form.querySelector("[data-file-name]");
  var preview = form.querySelector("[data-preview]");
  var sizeError = form.querySelector("[data-size-error]");
  var submit = form.querySelector("[data-submit]");
  var busy = form.querySelector("[data-busy]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var maxMb = form.getAttribute("data-max-mb");
  var previewUrl = null;

  function tooLarge(file) { return file && maxBytes && file.size > maxBytes; }

  function chosen() {
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].files && inputs[i].files[0]) return inputs[i].files[0];
    }
    return null;
  }

  function onChange(event) {
    // Only the latest choice counts: clear the other input so it is not sent as well.
    inputs.forEach(function (other) { if (other !== event.target) other.value = ""; });
    var file = chosen();
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
    preview.hidden = true;
    sizeError.hidden = true;
    fileName.hidden = !file;
    fileName.textContent = file ? file.name : "";
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
  }
  inputs.forEach(function (input) { input.addEventListener("change", onChange); });

  form.addEventListener("submit", function (event) {
    var file = chosen();
    if (!file) {
      event.preventDefault();
      sizeError.textContent = "Choose a photo or take one first.";
      sizeError.hidden = false;
      return;
    }
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
