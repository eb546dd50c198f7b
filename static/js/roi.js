// Region of interest on the home page: drag a rectangle or tap a polygon's corners on the
// preview (mouse, pen or touch, via pointer events). The polygon goes into the hidden `roi`
// field in normalised [0, 1] coordinates; without this script the whole photo is graded.
(function () {
  "use strict";
  var form = document.querySelector("form.upload");
  if (!form) return;
  var field = form.querySelector("[data-roi-field]");
  var preview = form.querySelector("[data-preview]");
  var canvas = form.querySelector("[data-roi-canvas]");
  var tools = form.querySelector("[data-roi-tools]");
  var status = form.querySelector("[data-roi-status]");
  if (!field || !preview || !canvas || !tools || !canvas.getContext) return;
  var ctx = canvas.getContext("2d");
  var shapeButtons = Array.prototype.slice.call(tools.querySelectorAll("[data-roi-shape]"));
  var shape = "rect";
  var points = [];   // [[x, y], ...] in [0, 1]
  var dragFrom = null;

  function clamp(v) { return Math.min(1, Math.max(0, v)); }
  function round(v) { return Math.round(v * 10000) / 10000; }

  function area(pts) {  // shoelace, as a fraction of the photo
    var s = 0;
    for (var i = 0; i < pts.length; i++) {
      var a = pts[i], b = pts[(i + 1) % pts.length];
      s += a[0] * b[1] - b[0] * a[1];
    }
    return Math.abs(s) / 2;
  }

  function at(event) {
    var r = canvas.getBoundingClientRect();
    return [clamp((event.clientX - r.left) / r.width), clamp((event.clientY - r.top) / r.height)];
  }

  function draw() {
    var w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    if (!points.length) return;
    var closed = points.length >= 3;
    if (closed) {  // darken what is outside the region
      ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
      ctx.beginPath();
      ctx.rect(0, 0, w, h);
      points.forEach(function (p, i) { ctx[i ? "lineTo" : "moveTo"](p[0] * w, p[1] * h); });
      ctx.closePath();
      ctx.fill("evenodd");
    }
    ctx.lineWidth = Math.max(2, w / 200);
    ctx.strokeStyle = "#ffd700";
    ctx.beginPath();
    points.forEach(function (p, i) { ctx[i ? "lineTo" : "moveTo"](p[0] * w, p[1] * h); });
    if (closed) ctx.closePath();
    ctx.stroke();
    ctx.fillStyle = "#ffd700";
    points.forEach(function (p) {
      ctx.beginPath();
      ctx.arc(p[0] * w, p[1] * h, ctx.lineWidth * 1.8, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  function commit() {
    var a = points.length >= 3 ? area(points) : 0;
    if (a > 0.0005) {
      field.value = JSON.stringify(points.map(function (p) { return [round(p[0]), round(p[1])]; }));
      status.textContent = "Grading only the region drawn: " + (100 * a).toFixed(0) + " % of the photo.";
    } else {
      field.value = "";
      status.textContent = shape === "polygon" && points.length
        ? "Tap more corners (at least 3) to close the region; until then the whole photo is graded."
        : "The whole photo will be graded.";
    }
    draw();
  }

  function fit() {
    var r = preview.getBoundingClientRect();
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(r.width * ratio));
    canvas.height = Math.max(1, Math.round(r.height * ratio));
    draw();
  }

  function reset() {
    points = [];
    dragFrom = null;
    commit();
  }

  function setShape(next) {
    shape = next;
    shapeButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-roi-shape") === next));
    });
    reset();
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    if (shape === "rect") {
      dragFrom = at(event);
      points = [];
      if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
    } else {
      points.push(at(event));
      commit();
    }
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!dragFrom) return;
    var p = at(event), a = dragFrom;
    points = [[a[0], a[1]], [p[0], a[1]], [p[0], p[1]], [a[0], p[1]]];
    draw();
  });
  function endDrag() {
    if (!dragFrom) return;
    dragFrom = null;
    commit();
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  shapeButtons.forEach(function (b) {
    b.addEventListener("click", function () { setShape(b.getAttribute("data-roi-shape")); });
  });
  tools.querySelector("[data-roi-clear]").addEventListener("click", reset);

  // A new photo gets a new region; the tools appear once its preview shows.
  preview.addEventListener("load", function () {
    tools.hidden = false;
    canvas.hidden = false;
    reset();
    window.requestAnimationFrame(fit);
  });
  form.querySelectorAll("[data-photo-input]").forEach(function (input) {
    input.addEventListener("change", function () {
      tools.hidden = true;
      canvas.hidden = true;
      reset();
    });
  });
  window.addEventListener("resize", fit);
})();
