// RustSEG on the phone itself: the exported model run by onnxruntime-web (vendored, served by
// this site), so a photo is analysed with no connection and the camera can show rust live.
// The thresholds, the borderline band, the overlay colours and the grade tables come from the
// server (GET /api/v1/model and /api/v1/grades, cached for offline use), never typed here.
import * as ort from "/static/vendor/onnxruntime_web/ort.wasm.min.mjs";
import { grade, maskAt, modelInput, overlay, workingSize } from "./field-maths.mjs";
import * as queue from "./field-queue.mjs";

const MODELS_CACHE = "rustseg-models";
const CONFIG_CACHE = "rustseg-config";

ort.env.wasm.wasmPaths = "/static/vendor/onnxruntime_web/";
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

export class FieldError extends Error {}

// ---------------------------------------------------------------- settings and model
async function json(url) {
  // Network first (a new model or new cut-offs are seen at once), the last copy offline.
  const cache = await caches.open(CONFIG_CACHE);
  try {
    const resp = await fetch(url, { cache: "no-cache" });
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new FieldError(body && body.error ? body.error.message : `${url} answered ${resp.status}`);
    }
    await cache.put(url, resp.clone());
    return await resp.json();
  } catch (e) {
    const cached = await cache.match(url);
    if (cached) return cached.json();
    if (e instanceof FieldError) throw e;
    throw new FieldError("the phone has not downloaded the model yet: open RustSEG once with a connection");
  }
}

async function sha256(buffer) {
  if (!crypto.subtle) return null; // not a secure context: the digest cannot be checked here
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The model file, from the cache when the phone has it (whole: it was checked before it was
// put there), else downloaded, checked against its SHA-256 and only then cached; older models
// are dropped. A download that breaks off is never used or kept.
async function modelBytes(file, onProgress) {
  const cache = await caches.open(MODELS_CACHE);
  const hit = await cache.match(file.url);
  if (hit) return hit.arrayBuffer();
  let resp;
  try {
    resp = await fetch(file.url);
  } catch (e) {
    throw new FieldError("the model could not be downloaded (no connection)");
  }
  if (!resp.ok) throw new FieldError(`the model could not be downloaded (the server answered ${resp.status})`);
  const reader = resp.body.getReader(), parts = [];
  let got = 0;
  for (;;) {
    let step;
    try { step = await reader.read(); } catch (e) { throw new FieldError("the model download broke off; try again"); }
    if (step.done) break;
    parts.push(step.value);
    got += step.value.length;
    if (onProgress) onProgress(got, file.bytes);
  }
  const buffer = new Uint8Array(got);
  let at = 0;
  for (const p of parts) { buffer.set(p, at); at += p.length; }
  if (got !== file.bytes) throw new FieldError("the model download is incomplete; try again");
  const digest = await sha256(buffer.buffer);
  if (digest !== null && digest !== file.sha256) throw new FieldError("the downloaded model is damaged; try again");
  await cache.put(file.url, new Response(buffer.buffer, { headers: { "Content-Type": "application/octet-stream" } }));
  for (const old of await cache.keys()) if (!old.url.endsWith(file.url)) await cache.delete(old);
  return buffer.buffer;
}

let loaded = null;

// {settings, tables, session}: loaded once per page.
export function load(onProgress) {
  if (!loaded) {
    loaded = (async () => {
      const [settings, tables] = await Promise.all([json("/api/v1/model"), json("/api/v1/grades")]);
      const bytes = await modelBytes(settings.file, onProgress);
      let session;
      try {
        session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"],
                                                              graphOptimizationLevel: "all" });
      } catch (e) {
        throw new FieldError("this phone's browser could not load the model: " + (e.message || e));
      }
      return { settings, tables, session };
    })();
    loaded.catch(() => { loaded = null; }); // a failure may be retried
  }
  return loaded;
}

// ---------------------------------------------------------------- one photo
// A photo file → an upright bitmap (EXIF orientation applied), with clear errors.
export async function decode(file, settings) {
  if (!file || !file.size) throw new FieldError("the file is empty");
  const raw = settings.camera_raw;  // the server refuses RAW: so does the phone, in its words
  const ext = ((file.name || "").match(/\.[^.]+$/) || [""])[0].toLowerCase();
  if (raw && raw.extensions.includes(ext)) throw new FieldError(raw.message);
  if (file.type && !file.type.startsWith("image/")) throw new FieldError("that file is not a photo (use JPEG, PNG, WebP, GIF or BMP)");
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    throw new FieldError("the photo could not be read: it is damaged, or a format this browser cannot decode");
  }
  if (bitmap.width * bitmap.height > settings.max_pixels) {
    const mp = (bitmap.width * bitmap.height / 1e6).toFixed(0);
    bitmap.close();
    throw new FieldError(`the photo is ${mp} MP; the limit is ${settings.max_pixels / 1e6} MP`);
  }
  return bitmap;
}

// The photo at the working size (the long side at most work_max_side), as the server has it.
export function working(source, width, height, settings) {
  const [w, h] = workingSize(width, height, settings.work_max_side);
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

// The model on a working image: probability, decision, mask and area, as the server's learned mode.
export async function analyseImage(image, model, withOverlay = true) {
  const { settings, tables, session } = model;
  const side = settings.side;
  const t0 = performance.now();
  const input = new ort.Tensor("float32", modelInput(image, side), [1, side, side, 3]);
  // Only learned mode's two outputs (a server's model.onnx also carries Grad-CAM++'s).
  const out = await session.run({ [settings.input.name]: input }, ["probability", "pixel_probability"]);
  const probability = out.probability.data[0];
  const t1 = performance.now();
  const isCorrosion = probability > settings.threshold;
  const band = settings.uncertain_band;
  const uncertain = !!band && probability > band.low && probability <= band.high;
  let mask = new Uint8Array(image.width * image.height), area = 0;
  if (isCorrosion) ({ mask, area } = maskAt(out.pixel_probability.data, side, image.width, image.height, settings.mask_threshold));
  const o = settings.overlay;
  const drawn = withOverlay ? overlay(image, mask, o.colour, o.alpha, o.outline) : null;
  return { probability, isCorrosion, uncertain, mask, area, overlay: drawn, threshold: settings.threshold,
           grade: grade(area, tables), width: image.width, height: image.height,
           modelVersion: settings.version, mode: settings.mode, modeLabel: settings.mode_label,
           ms: { model: t1 - t0, total: performance.now() - t0 } };
}

export async function analyseFile(file, model) {
  const bitmap = await decode(file, model.settings);
  const size = [bitmap.width, bitmap.height];
  const image = working(bitmap, bitmap.width, bitmap.height, model.settings);
  bitmap.close();
  const result = await analyseImage(image, model);
  result.photoSize = size;
  return { result, image };
}

// ---------------------------------------------------------------- helpers for pages and tests
export function imageDataToBlob(data, type = "image/jpeg", quality = 0.9) {
  const canvas = new OffscreenCanvas(data.width, data.height);
  canvas.getContext("2d").putImageData(data, 0, 0);
  return canvas.convertToBlob({ type, quality });
}

export function maskToImageData(mask, width, height) {
  const data = new ImageData(width, height);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 255 : 0, p = 4 * i;
    data.data[p] = data.data[p + 1] = data.data[p + 2] = v;
    data.data[p + 3] = 255;
  }
  return data;
}

// The summary the server would answer for this result (the API's field names).
export function summary(result) {
  const g = result.grade;
  return { probability: result.probability, decision: result.isCorrosion ? "corrosion" : "not_corrosion",
           is_corrosion: result.isCorrosion, uncertain: result.uncertain, threshold: result.threshold,
           mode: result.mode, area_fraction: result.area, width: result.photoSize ? result.photoSize[0] : result.width,
           height: result.photoSize ? result.photoSize[1] : result.height, model_version: result.modelVersion,
           astm_d610_grade: g.d610, iso4628_ri: g.ri, severity: g.severity.id, analysed_on: "phone" };
}

export { queue };
