// Survey page: analyse each chosen photo through the JSON API, one after another, showing
// progress; then post the answers (with thumbnails) back to the page's form, which renders
// the survey. Without this script the form posts the photos themselves.
(function () {
  "use strict";
  var form = document.querySelector("form.survey");
  if (!form || !window.fetch || !window.FormData) return;
  var input = form.querySelector("[data-survey-photos]");
  var field = form.querySelector("[data-survey-field]");
  var error = form.querySelector("[data-survey-error]");
  var box = form.querySelector("[data-survey-progress]");
  var bar = form.querySelector("[data-survey-bar]");
  var count = form.querySelector("[data-survey-count]");
  var list = form.querySelector("[data-survey-list]");
  var submit = form.querySelector("[data-submit]");
  var api = form.getAttribute("data-api");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var maxMb = form.getAttribute("data-max-mb");
  var THUMB = 480;

  function say(message) { error.textContent = message; error.hidden = !message; }

  function mode() {
    var checked = form.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "";
  }

  // A thumbnail of a base64 JPEG the API returned (the report needs no more).
  function thumbnail(b64) {
    return new Promise(function (resolve) {
      if (!b64) { resolve(null); return; }
      var img = new Image();
      img.onload = function () {
        var s = Math.min(1, THUMB / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(img.naturalWidth * s));
        canvas.height = Math.max(1, Math.round(img.naturalHeight * s));
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        resolve(canvas.toDataURL("image/jpeg", 0.82).split(",")[1]);
      };
      img.onerror = function () { resolve(null); };
      img.src = "data:image/jpeg;base64," + b64;
    });
  }

  function analyse(file) {
    if (maxBytes && file.size > maxBytes) {
      return Promise.reject(new Error("larger than " + maxMb + " MB"));
    }
    var body = new FormData();
    body.append("image", file, file.name);
    body.append("mode", mode());
    body.append("include", "image,overlay");
    return fetch(api, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (json) {
          if (!resp.ok) throw new Error((json.error && json.error.message) || ("HTTP " + resp.status));
          return json;
        });
      })
      .then(function (json) {
        return Promise.all([thumbnail(json.image_jpg_base64), thumbnail(json.overlay_jpg_base64)])
          .then(function (thumbs) {
            var summary = {};
            Object.keys(json).forEach(function (k) { if (!/_base64$/.test(k)) summary[k] = json[k]; });
            return { name: file.name, summary: summary, image_jpg_base64: thumbs[0],
                     overlay_jpg_base64: thumbs[1] };
          });
      });
  }

  // A photo chosen twice, or a copy of one (IMG_0001 (1).jpg), is analysed once, so the
  // survey counts it once: the earlier file of the same bytes, or null.
  function sameAs(file, earlier) {
    var sized = earlier.filter(function (e) { return e.size === file.size; });
    if (!sized.length || !file.arrayBuffer) return Promise.resolve(null);
    return file.arrayBuffer().then(function (mine) {
      var a = new Uint8Array(mine);
      return sized.reduce(function (found, other) {
        return found.then(function (hit) {
          if (hit) return hit;
          return other.arrayBuffer().then(function (theirs) {
            var b = new Uint8Array(theirs);
            for (var k = 0; k < a.length; k++) if (a[k] !== b[k]) return null;
            return other;
          });
        });
      }, Promise.resolve(null));
    }).catch(function () { return null; });
  }

  form.addEventListener("submit", function (event) {
    if (field.value) return;  // the answers are in: let the form post them
    event.preventDefault();
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) { say("Choose at least one photo."); return; }
    say("");
    submit.disabled = true;
    submit.textContent = "Analysing…";
    box.hidden = false;
    bar.max = files.length;
    bar.value = 0;
    list.textContent = "";
    var items = files.map(function (f) {
      var li = document.createElement("li");
      li.textContent = f.name + " — waiting";
      list.appendChild(li);
      return li;
    });
    var photos = [], skipped = [], analysed = [];
    var chain = Promise.resolve();
    files.forEach(function (file, i) {
      chain = chain.then(function () {
        items[i].textContent = file.name + " — analysing…";
        count.textContent = "Analysing photo " + (i + 1) + " of " + files.length + "…";
        return sameAs(file, analysed).then(function (original) {
          if (original) throw new Error("the same photo as " + original.name);
          analysed.push(file);
          return analyse(file);
        }).then(function (photo) {
          photos.push(photo);
          var s = photo.summary;
          items[i].textContent = file.name + " — " + s.severity + ", ASTM D610 grade " + s.astm_d610_grade;
          items[i].className = "done";
        }, function (err) {
          skipped.push([file.name, err.message]);
          items[i].textContent = file.name + " — skipped: " + err.message;
          items[i].className = "failed";
        }).then(function () { bar.value = i + 1; });
      });
    });
    chain.then(function () {
      count.textContent = photos.length + " of " + files.length + " photos analysed.";
      if (!photos.length) {
        say("None of the photos could be analysed.");
        submit.disabled = false;
        submit.textContent = "Analyse photos";
        return;
      }
      count.textContent += " Making the survey page…";
      field.value = JSON.stringify({ photos: photos, skipped: skipped });  // titled by the form
      input.value = "";  // the photos are analysed: do not upload them again
      form.submit();
    });
  });

  window.addEventListener("pageshow", function () {
    field.value = "";
    submit.disabled = false;
    submit.textContent = "Analyse photos";
  });
})();
