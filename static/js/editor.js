// The mask editor of a kept result: paint and erase the mask over the photo with mouse, pen
// or finger (pointer events), brush size, undo, reset to the model's mask, a mask/photo
// toggle, and Save, which posts the mask as a PNG at the photo's full size through the
// page's CSRF-protected form. Without this file the form still takes a PNG chosen by hand.
(function () {
  "use strict";
  var root = document.querySelector("[data-mask-editor]");
  if (!root || !window.HTMLCanvasElement) return;
  var form = root.querySelector("[data-mask-form]");
  var canvas = root.querySelector("[data-editor-canvas]");
  var ctx = canvas.getContext("2d");
  var sizeInput = root.querySelector("[data-brush-size]");
  var undoButton = root.querySelector("[data-undo]");
  var toggleButton = root.querySelector("[data-toggle]");
  var saveButton = root.querySelector("[data-save]");
  var saveError = root.querySelector("[data-save-error]");
  var fullWidth = parseInt(root.getAttribute("data-width"), 10);
  var fullHeight = parseInt(root.getAttribute("data-height"), 10);
  var TINT = "rgba(0, 190, 255, 0.5)";  // cyan: stands out on rust, which is orange
  var UNDO_LIMIT = 30;

  var photo = new Image();
  var mask = document.createElement("canvas");  // white = corrosion, transparent = not
  var maskCtx = mask.getContext("2d", { willReadFrequently: true });
  var tint = document.createElement("canvas");
  var tintCtx = tint.getContext("2d");
  var tool = "paint";
  var showMask = true;
  var undoStack = [];
  var drawing = null;  // the pointer id of the stroke in progress
  var last = null;
  var strokes = 0;
  var queued = false;

  function load(src) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = reject;
      img.src = src;
    });
  }

  // A mask PNG (any size) into the working mask: scaled to the photo shown, then made binary.
  function setMask(img) {
    maskCtx.clearRect(0, 0, mask.width, mask.height);
    maskCtx.drawImage(img, 0, 0, mask.width, mask.height);
    var data = maskCtx.getImageData(0, 0, mask.width, mask.height);
    var px = data.data;
    for (var i = 0; i < px.length; i += 4) {
      var on = px[i] >= 128;
      px[i] = px[i + 1] = px[i + 2] = 255;
      px[i + 3] = on ? 255 : 0;
    }
    maskCtx.putImageData(data, 0, 0);
    render();
  }

  function render() {
    queued = false;
    ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
    if (!showMask) return;
    tintCtx.globalCompositeOperation = "source-over";
    tintCtx.clearRect(0, 0, tint.width, tint.height);
    tintCtx.fillStyle = TINT;
    tintCtx.fillRect(0, 0, tint.width, tint.height);
    tintCtx.globalCompositeOperation = "destination-in";
    tintCtx.drawImage(mask, 0, 0);
    ctx.drawImage(tint, 0, 0);
  }

  function renderSoon() {
    if (!queued) { queued = true; window.requestAnimationFrame(render); }
  }

  function pushUndo() {
    undoStack.push(maskCtx.getImageData(0, 0, mask.width, mask.height));
    if (undoStack.length > UNDO_LIMIT) undoStack.shift();
    undoButton.disabled = false;
  }

  // Canvas pixels per CSS pixel: the brush size is what the person sees on screen.
  function scale() { return canvas.width / canvas.getBoundingClientRect().width; }

  function point(event) {
    var rect = canvas.getBoundingClientRect();
    var s = canvas.width / rect.width;
    return { x: (event.clientX - rect.left) * s, y: (event.clientY - rect.top) * s };
  }

  function paint(from, to) {
    maskCtx.globalCompositeOperation = tool === "erase" ? "destination-out" : "source-over";
    maskCtx.strokeStyle = maskCtx.fillStyle = "#fff";
    maskCtx.lineWidth = parseFloat(sizeInput.value) * scale();
    maskCtx.lineCap = maskCtx.lineJoin = "round";
    maskCtx.beginPath();
    maskCtx.moveTo(from.x, from.y);
    maskCtx.lineTo(to.x + 0.01, to.y);  // a zero-length line draws no dab
    maskCtx.stroke();
    maskCtx.globalCompositeOperation = "source-over";
    renderSoon();
  }

  canvas.addEventListener("pointerdown", function (event) {
    if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = event.pointerId;
    pushUndo();
    last = point(event);
    paint(last, last);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (event.pointerId !== drawing) return;
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    (events.length ? events : [event]).forEach(function (e) {
      var p = point(e);
      paint(last, p);
      last = p;
    });
  });
  function endStroke(event) {
    if (event.pointerId !== drawing) return;
    drawing = null;
    strokes += 1;
    root.setAttribute("data-strokes", String(strokes));
    showMask = true;
    updateToggle();
    render();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  Array.prototype.forEach.call(root.querySelectorAll("[data-tool]"), function (button, _, all) {
    button.addEventListener("click", function () {
      tool = button.getAttribute("data-tool");
      Array.prototype.forEach.call(all, function (b) {
        b.classList.toggle("selected", b === button);
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
    });
  });
  undoButton.addEventListener("click", function () {
    var previous = undoStack.pop();
    if (previous) maskCtx.putImageData(previous, 0, 0);
    undoButton.disabled = undoStack.length === 0;
    render();
  });
  root.querySelector("[data-reset]").addEventListener("click", function () {
    load(root.getAttribute("data-model-mask")).then(function (img) { pushUndo(); setMask(img); });
  });
  function updateToggle() {
    toggleButton.setAttribute("aria-pressed", showMask ? "false" : "true");
    toggleButton.textContent = showMask ? "Show photo only" : "Show mask";
  }
  toggleButton.addEventListener("click", function () {
    showMask = !showMask;
    updateToggle();
    render();
  });

  // The mask at the photo's full size, black and white, as a PNG blob.
  function fullSizePng() {
    var small = document.createElement("canvas");
    small.width = mask.width;
    small.height = mask.height;
    var sctx = small.getContext("2d");
    var data = maskCtx.getImageData(0, 0, mask.width, mask.height);
    var px = data.data;
    for (var i = 0; i < px.length; i += 4) {
      var v = px[i + 3] >= 128 ? 255 : 0;
      px[i] = px[i + 1] = px[i + 2] = v;
      px[i + 3] = 255;
    }
    sctx.putImageData(data, 0, 0);
    var full = document.createElement("canvas");
    full.width = fullWidth;
    full.height = fullHeight;
    var fctx = full.getContext("2d");
    fctx.imageSmoothingEnabled = false;  // stays black and white
    fctx.drawImage(small, 0, 0, fullWidth, fullHeight);
    return new Promise(function (resolve) { full.toBlob(resolve, "image/png"); });
  }

  function showError(text) {
    saveError.textContent = text;
    saveError.hidden = false;
    saveButton.disabled = false;
    saveButton.textContent = "Save corrected mask";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    saveError.hidden = true;
    saveButton.disabled = true;
    saveButton.textContent = "Saving…";
    fullSizePng().then(function (blob) {
      var body = new FormData(form);  // carries the CSRF token
      body.set("mask", blob, "mask.png");
      // Not following the redirect: the page it leads to says "saved" once, to this tab.
      return fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                                  redirect: "manual" });
    }).then(function (resp) {
      if (resp.type === "opaqueredirect") {
        window.location.hash = "mask-editor";
        window.location.reload();
        return null;
      }
      return resp.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var message = doc.querySelector("[data-mask-error], .error-page p");
        showError("Not saved: " + (message ? message.textContent.trim() : "the server answered " + resp.status));
      });
    }).catch(function () {
      showError("Not saved: the server could not be reached. Your drawing is still here; try again.");
    });
  });

  load(root.getAttribute("data-photo")).then(function (img) {
    photo = img;
    canvas.width = mask.width = tint.width = img.naturalWidth;
    canvas.height = mask.height = tint.height = img.naturalHeight;
    root.querySelector("[data-mask-upload]").hidden = true;
    form.querySelector("input[type=file]").required = false;  // the drawing is the mask now
    root.querySelector("[data-editor-tools]").hidden = false;
    root.querySelector("[data-editor-stage]").hidden = false;
    return load(root.getAttribute("data-current-mask"));
  }).then(function (img) {
    setMask(img);
    root.setAttribute("data-ready", "true");
  }).catch(function () {
    showError("The editor could not load the photo; you can still upload a mask.");
    root.querySelector("[data-mask-upload]").hidden = false;
    form.querySelector("input[type=file]").required = true;
  });
})();
