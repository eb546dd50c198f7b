// What the phone analysed on its own, kept on the phone (IndexedDB): the photo, its result
// and the person's consent. When the connection is back, the consented ones are sent to the
// opt-in store, each under its own Idempotency-Key, so a photo is kept exactly once however
// often the sending is interrupted (a reload mid-upload, a retry). Without consent nothing
// ever leaves the phone.
const DB = "rustseg", STORE = "photos", VERSION = 1;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const result = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(result && "result" in result ? result.result : result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("the phone's storage refused the change"));
    });
  } finally {
    db.close();
  }
}

function newId() {
  if (crypto.randomUUID) return "phone-" + crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "phone-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// Keep one analysis: {photo: Blob, name, summary, consent}. Returns its id.
export async function add({ photo, name, summary, consent }) {
  const entry = { id: newId(), photo, name, summary, consent: !!consent,
                  state: consent ? "waiting" : "phone_only", created: new Date().toISOString() };
  await tx("readwrite", (s) => s.put(entry));
  return entry.id;
}

export function list() {
  return tx("readonly", (s) => s.getAll()).then((all) => all.sort((a, b) => a.created.localeCompare(b.created)));
}

export function remove(id) {
  return tx("readwrite", (s) => s.delete(id));
}

async function update(entry) {
  await tx("readwrite", (s) => s.put(entry));
}

// One upload of a consented entry; the server keeps it under its key, once.
async function send(entry) {
  const body = new FormData();
  body.append("image", entry.photo, entry.name || "photo.jpg");
  body.append("keep", "true");
  const resp = await fetch("/api/v1/segment", { method: "POST", body,
                                                headers: { "Idempotency-Key": entry.id } });
  const answer = await resp.json().catch(() => null);
  if (resp.ok && answer && answer.kept) {
    // Sent and kept: the photo leaves the phone's storage; the link to its result stays.
    await update({ ...entry, photo: null, state: "sent", resultUrl: answer.result_url, recordId: answer.id });
    return true;
  }
  if (resp.status >= 400 && resp.status < 500 && resp.status !== 409) {
    await update({ ...entry, state: "refused", error: answer && answer.error ? answer.error.message : `HTTP ${resp.status}` });
  }
  return false;
}

let running = null;

// Send every consented entry still waiting (one run at a time in this page, and one per
// browser where Web Locks exist). Returns how many were kept.
export function sync() {
  if (!navigator.onLine) return Promise.resolve(0);
  if (!running) {
    const work = async () => {
      let kept = 0;
      for (const entry of await list()) {
        if (entry.consent && entry.state === "waiting" && entry.photo) {
          try {
            if (await send(entry)) kept++;
          } catch (e) {
            break; // offline again: the rest waits for the next time
          }
        }
      }
      return kept;
    };
    running = (navigator.locks ? navigator.locks.request("rustseg-sync", work) : work())
      .finally(() => { running = null; });
  }
  return running;
}
