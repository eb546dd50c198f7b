// The home page in the field: "analyse on this phone" (and on its own when the server cannot
// be reached), the photos waiting on the phone, live camera mode, and the service worker that
// makes all of it work offline after one visit.
import * as field from "./field.mjs";

const $ = (sel, root = document) => root.querySelector(sel);
const form = $("form.upload");
const section = $("[data-field]");
// Only where the server offers an exported model (the page says so): without one there is
// nothing to analyse with here, and asking for it would only log a 404.
if (form && section && form.hasAttribute("data-phone-model")) start();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k === "href" || k === "download" || k === "src" || k === "alt" || k === "role" || k === "type") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

const pct = (x, d = 1) => `${(100 * x).toFixed(d)} %`;
let checkByEye = "Borderline: check by eye";  // replaced by the server's words once loaded

function say(text, kind = "") {
  const box = $("[data-field-status]");
  box.textContent = text;
  box.className = "notice" + (kind ? " notice-" + kind : "");
  box.hidden = !text;
}

// ---------------------------------------------------------------- the result card
async function showResult(result, image, name, stored) {
  const card = $("[data-local-result]");
  card.replaceChildren();
  const s = result.summary || field.summary(result);
  const g = result.grade;
  const corrosion = result.isCorrosion;
  const title = result.uncertain ? (corrosion ? "Possible corrosion" : "Probably no corrosion")
                                 : (corrosion ? "Corrosion detected" : "No corrosion detected");
  const overlayBlob = await field.imageDataToBlob(result.overlay);
  const maskBlob = await field.imageDataToBlob(field.maskToImageData(result.mask, result.width, result.height), "image/png");
  const jsonBlob = new Blob([JSON.stringify(s, null, 2)], { type: "application/json" });
  const stem = "rustseg-phone-" + new Date().toISOString().replace(/[-:]/g, "").slice(0, 15);
  card.append(
    el("section", { class: "verdict " + (corrosion ? "verdict-rust" : "verdict-clear") },
       result.uncertain ? el("p", { class: "notice notice-warn", "data-uncertain": "" },
                             checkByEye + ". The probability is close to the threshold.") : null,
       el("h2", { "data-local-verdict": corrosion ? "corrosion" : "not_corrosion" }, title),
       el("p", { class: "verdict-line" }, "Probability of corrosion ",
          el("strong", { "data-local-probability": "" }, pct(result.probability)),
          ` (the model needs above ${pct(result.threshold)})`,
          corrosion ? "; the marked area covers " : ".",
          corrosion ? el("strong", { "data-local-area": "" }, pct(result.area)) : null,
          corrosion ? " of the photo." : null)),
    el("figure", {}, el("img", { src: URL.createObjectURL(overlayBlob), alt: "The photo with corroded areas marked",
                                 "data-local-overlay": "" }),
       el("figcaption", {}, corrosion ? "Corrosion marked (analysed on this phone)" : "Nothing marked (analysed on this phone)")),
    el("dl", { class: "facts" },
       el("dt", {}, "Rust grade"), el("dd", { "data-local-severity": g.severity.id }, g.severity.label),
       el("dt", {}, "ASTM D610 / SSPC-VIS 2"), el("dd", {}, String(g.d610)),
       el("dt", {}, "ISO 4628-3"), el("dd", {}, `Ri ${g.ri} (reference area ${g.riReference})`),
       el("dt", {}, "Mask method"), el("dd", {}, result.modeLabel),
       el("dt", {}, "Model version"), el("dd", {}, result.modelVersion),
       el("dt", {}, "Time on this phone"), el("dd", {}, `${Math.round(result.ms.total)} ms`)),
    el("p", { class: "downloads" },
       el("a", { class: "button", href: URL.createObjectURL(maskBlob), download: stem + "-mask.png" }, "Mask (PNG)"),
       el("a", { class: "button", href: URL.createObjectURL(overlayBlob), download: stem + "-overlay.jpg" }, "Overlay (JPEG)"),
       el("a", { class: "button", href: URL.createObjectURL(jsonBlob), download: stem + "-result.json" }, "Result (JSON)")),
    el("p", { class: "help", "data-local-stored": stored }, stored === "waiting"
       ? "Kept on this phone and waiting: it is sent to the RustSEG store as soon as there is a connection."
       : "Kept on this phone only (you did not tick the box to send it)."));
  card.hidden = false;
  card.scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- what waits on the phone
async function showQueue() {
  const list = $("[data-queue-list]");
  const entries = await field.queue.list();
  list.replaceChildren();
  $("[data-queue]").hidden = entries.length === 0;
  for (const e of entries) {
    const s = e.summary || {};
    const state = { waiting: "waiting to be sent", phone_only: "on this phone only", sent: "kept on the server",
                    refused: "refused by the server: " + (e.error || "") }[e.state] || e.state;
    const link = e.resultUrl ? el("a", { href: e.resultUrl }, "result") : null;
    const del = el("button", { class: "button small", type: "button", "data-delete": e.id }, "Delete");
    del.addEventListener("click", async () => { await field.queue.remove(e.id); showQueue(); });
    list.append(el("li", { "data-queue-item": e.state },
                   `${e.name || "photo"} — ${s.decision === "corrosion" ? "corrosion" : "no corrosion"}, `
                   + `${pct(s.area_fraction || 0)} marked; ${state} `, link, " ", del));
  }
}

let retry = null, retryDelay = 2000;

async function syncQueue() {
  const kept = await field.queue.sync().catch(() => 0);
  if (kept) say(`${kept} photo${kept > 1 ? "s" : ""} from this phone sent to the RustSEG store.`);
  await showQueue();
  // Still waiting while online (the server was busy keeping it, or the link dropped): try
  // again, less often each time; its key makes a second arrival harmless.
  const waiting = (await field.queue.list()).some((e) => e.consent && e.state === "waiting");
  clearTimeout(retry);
  if (waiting && navigator.onLine) {
    retry = setTimeout(syncQueue, retryDelay);
    retryDelay = Math.min(60000, retryDelay * 2);
  } else {
    retryDelay = 2000;
  }
}

// ---------------------------------------------------------------- analysing here
let model = null;

async function ensureModel(quiet = false) {
  if (!model) {
    if (!quiet) say("Loading the model on this phone…");
    model = await field.load(quiet ? null : (got, total) => say(`Downloading the model once: ${Math.round(100 * got / total)} %`));
    checkByEye = model.tables.check_by_eye;
    if (!quiet) say("");
    const ready = $("[data-field-ready]");
    if (ready) ready.textContent = `The model (${model.settings.version}) is on this phone: photos can be analysed here, offline too.`;
  }
  return model;
}

async function serverReachable() {
  if (!navigator.onLine) return false;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 3000);
  try {
    const r = await fetch("/healthz", { cache: "no-store", signal: ctl.signal });
    return r.ok && !r.headers.has("X-RustSEG-Offline");  // that header: the service worker's "no"
  } catch (e) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function chosenFile() {
  for (const input of form.querySelectorAll("input[type=file]")) if (input.files && input.files[0]) return input.files[0];
  return null;
}

async function analyseHere(file, why) {
  const busy = $("[data-busy]");
  let m;
  try {
    m = await ensureModel();
  } catch (e) {
    // No model on this phone (it failed to download or to load): the server, if it answers.
    if (await serverReachable()) {
      say("The model could not be loaded on this phone (" + (e.message || e) + "), so the server analyses the photo.", "warn");
      form.submit();
      return;
    }
    say("This phone could not analyse the photo: " + (e.message || e) + ".", "warn");
    return;
  }
  try {
    if (busy) busy.hidden = false;
    say(why + " Analysing on this phone…");
    const { result } = await field.analyseFile(file, m);
    const consent = !!(form.querySelector("input[name=keep]") || {}).checked;
    const summary = field.summary(result);
    await field.queue.add({ photo: file, name: file.name, summary, consent });
    result.summary = summary;
    await showResult(result, null, file.name, consent ? "waiting" : "phone_only");
    say("");
    await showQueue();
    if (consent) syncQueue();
  } catch (e) {
    say(e instanceof field.FieldError ? "This phone could not analyse the photo: " + e.message + "."
                                      : "This phone could not analyse the photo: " + (e.message || e), "warn");
  } finally {
    if (busy) busy.hidden = true;
  }
}

function resetSubmit() {
  const submit = $("[data-submit]", form), busy = $("[data-busy]", form);
  setTimeout(() => {  // after site.js's own "Analysing…" (it runs on the same event)
    if (submit) { submit.disabled = false; submit.textContent = "Analyse photo"; }
    if (busy) busy.hidden = true;
  }, 0);
}

function start() {
  for (const part of document.querySelectorAll("[data-field]")) part.hidden = false;
  window.rustsegField = field;  // for the parity checks (benchmarks/field_browser.py) and tests
  const here = $("input[name=where][value=phone]");
  // Registered after site.js's listener (module scripts run after it), so its checks (no
  // photo, too large) have had their say: a prevented submit is left alone.
  form.addEventListener("submit", (ev) => {
    const file = chosenFile();
    if (ev.defaultPrevented || !file) return;
    ev.preventDefault();
    if (here && here.checked) {
      analyseHere(file, "").finally(resetSubmit);
      return;
    }
    serverReachable().then((ok) => {
      if (ok) form.submit(); // the server analyses it, as without this script
      else analyseHere(file, "The server cannot be reached, so this phone analyses the photo.").finally(resetSubmit);
    });
  });
  window.addEventListener("online", syncQueue);
  showQueue();
  if (navigator.onLine) syncQueue();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  // After one visit the model is on the phone: fetch it now, while there is a connection.
  if (navigator.onLine) {
    (window.requestIdleCallback || setTimeout)(() => ensureModel(true).catch(() => {}));
  }
  setupLive();
}

// ---------------------------------------------------------------- live camera
function setupLive() {
  const button = $("[data-live-start]");
  const panel = $("[data-live]");
  if (!button || !panel) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    button.disabled = true;
    button.title = "This browser gives no camera to web pages";
    return;
  }
  const video = $("video", panel), canvas = $("canvas", panel), rate = $("[data-live-rate]", panel);
  const area = $("[data-live-area]", panel), stop = $("[data-live-stop]", panel);
  let stream = null, running = false, last = null, frames = [];
  async function loop(m) {
    while (running) {
      // One frame at a time, and the page's own work in between: the WebAssembly runs on this
      // thread, and a loop of resolved promises alone would never let the page draw or react.
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      if (video.readyState < 2 || !video.videoWidth) continue;
      const image = field.working(video, video.videoWidth, video.videoHeight, { work_max_side: 480 });
      const result = await field.analyseImage(image, m);
      if (!running) break;
      canvas.width = image.width;
      canvas.height = image.height;
      canvas.getContext("2d").putImageData(result.overlay, 0, 0);
      last = { result, image };
      const now = performance.now();
      frames.push(now);
      while (frames.length && now - frames[0] > 2000) frames.shift();
      const fps = frames.length > 1 ? (frames.length - 1) * 1000 / (now - frames[0]) : 0;
      rate.textContent = `${fps.toFixed(1)} frames/s`;
      rate.dataset.fps = fps.toFixed(2);
      area.textContent = result.isCorrosion ? `${pct(result.area)} marked` : "no corrosion";
    }
  }
  async function end() {
    running = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    panel.hidden = true;
  }
  button.addEventListener("click", async () => {
    try {
      const m = await ensureModel();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" },
                                                                      width: { ideal: 640 } }, audio: false });
      video.srcObject = stream;
      await video.play();
      panel.hidden = false;
      running = true;
      frames = [];
      loop(m);
    } catch (e) {
      say("Live mode could not start: " + (e.message || e), "warn");
      end();
    }
  });
  stop.addEventListener("click", end);
  // A tap freezes the frame into a normal result.
  canvas.addEventListener("click", async () => {
    if (!last) return;
    const { result, image } = last;
    await end();
    const photo = await field.imageDataToBlob(image);
    const consent = !!(form.querySelector("input[name=keep]") || {}).checked;
    const summary = field.summary(result);
    result.summary = summary;
    await field.queue.add({ photo, name: "live-frame.jpg", summary, consent });
    await showResult(result, image, "live-frame.jpg", consent ? "waiting" : "phone_only");
    await showQueue();
    if (consent) syncQueue();
  });
}
