// RustSEG's service worker: after one visit the home page, its scripts and styles, the
// WebAssembly runtime and the model's settings are cached, so the page loads and analyses a
// photo with no connection. Online, every request goes to the network first (a new page or
// model is seen at once) and the cached copy is refreshed; offline, the cached copy answers.
// The model file itself is cached by the page (static/js/field.mjs), whole and checked
// against its SHA-256; here it is only read back. Results, uploads and the store are never
// cached.
const SHELL = "rustseg-shell-v1";
const MODELS = "rustseg-models";
const CONFIG = "rustseg-config";
const PRECACHE = [
  "/", "/manifest.webmanifest", "/static/css/site.css", "/static/favicon.svg",
  "/static/icons/rustseg-192.png", "/static/icons/rustseg-512.png",
  "/static/js/site.js", "/static/js/roi.js", "/static/js/field-page.mjs", "/static/js/field.mjs",
  "/static/js/field-maths.mjs", "/static/js/field-queue.mjs",
  "/static/vendor/onnxruntime_web/ort.wasm.min.mjs",
  "/static/vendor/onnxruntime_web/ort-wasm-simd-threaded.mjs",
  "/static/vendor/onnxruntime_web/ort-wasm-simd-threaded.wasm",
];
const CACHED_PREFIXES = ["/static/"];
const CACHED_PATHS = new Set(["/", "/manifest.webmanifest"]);

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("rustseg-shell-") && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cacheable(url) {
  return CACHED_PATHS.has(url.pathname) || CACHED_PREFIXES.some((p) => url.pathname.startsWith(p));
}

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const resp = await fetch(request);
    if (resp.ok && resp.type === "basic") await cache.put(request, resp.clone());
    return resp;
  } catch (e) {
    const hit = await cache.match(request, { ignoreSearch: true });
    if (hit) return hit;
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/model/")) {  // filled by the page, whole and checked
    event.respondWith(caches.open(MODELS).then((c) => c.match(request)).then((hit) => hit || fetch(request)));
    return;
  }
  if (url.pathname === "/healthz") {
    // "Is the server there?" with no connection is answered here, marked as such, so that
    // the page learns "no" without a failed load in its console (an error status is one too).
    event.respondWith(fetch(request).catch(() => new Response("no connection", {
      headers: { "Content-Type": "text/plain", "Cache-Control": "no-store", "X-RustSEG-Offline": "1" } })));
    return;
  }
  if (url.pathname === "/api/v1/model" || url.pathname === "/api/v1/grades") {
    event.respondWith(networkFirst(request, CONFIG));
    return;
  }
  if (request.mode === "navigate") {
    // The home page is kept fresh; offline, any page of the site opens it (it works without
    // the server), and other pages are never stored (they may show someone's photo).
    if (url.pathname === "/") {
      event.respondWith(networkFirst(request, SHELL));
      return;
    }
    event.respondWith(fetch(request).catch(async () => (await caches.open(SHELL)).match("/")
                                                      || Response.error()));
    return;
  }
  if (cacheable(url)) event.respondWith(networkFirst(request, SHELL));
});
