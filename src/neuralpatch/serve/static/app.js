// The page: open a photo, paint the hole at the photo's own resolution, fill it on the server, watch the
// progress (server-sent events), compare and download. No build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const photoCanvas = $("photo"), maskCanvas = $("mask");
const photoContext = photoCanvas.getContext("2d"), maskContext = maskCanvas.getContext("2d");
// photo: the blob a fill starts from (the opened photo, then the last fill); current / before: its bitmap and
// the one before the last fill (the before/after toggle)
const state = { photo: null, photoName: "photo", current: null, before: null, undo: [], job: null, events: null,
                painting: false, last: null, showingBefore: false };

function say(text, info = false) {
  $("message").textContent = text;
  $("message").className = info ? "info" : "";
}

async function loadOptions() {
  const options = await (await fetch("/api/options")).json();
  for (const [id, names, chosen] of [["prior", options.priors, options.prior], ["preset", options.presets, options.preset]]) {
    $(id).replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
  }
}

async function openPhoto(blob, name) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);  // upright by the EXIF orientation, as the server reads it
  } catch {
    say(`${name} is not an image this page can read; open a PNG, JPEG or WebP photo.`);
    return;
  }
  forgetJob();
  Object.assign(state, { photo: blob, photoName: name, current: bitmap, before: null, undo: [], showingBefore: false });
  for (const canvas of [photoCanvas, maskCanvas]) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  photoContext.drawImage(bitmap, 0, 0);
  maskContext.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
  const size = Math.max(2, Math.round(Math.min(bitmap.width, bitmap.height) / 16));
  $("size").max = Math.max(300, Math.round(Math.min(bitmap.width, bitmap.height) / 2));
  $("size").value = size;
  $("size-value").value = size;
  $("hint").hidden = true;
  $("layers").hidden = false;
  $("stage").classList.remove("empty");
  $("fill").disabled = false;
  $("compare").hidden = $("download").hidden = true;
  say(`${name}: ${bitmap.width}×${bitmap.height} px. Brush over what should go.`, true);
}

// Painting: pointer positions mapped from the displayed (scaled) canvas to the photo's pixels.
function photoPoint(event) {
  const box = maskCanvas.getBoundingClientRect();
  return [(event.clientX - box.left) * maskCanvas.width / box.width,
          (event.clientY - box.top) * maskCanvas.height / box.height];
}

function stroke(from, to) {
  maskContext.globalCompositeOperation = $("erase").getAttribute("aria-pressed") === "true" ? "destination-out" : "source-over";
  maskContext.strokeStyle = maskContext.fillStyle = "#ff2d20";
  maskContext.lineWidth = Number($("size").value);
  maskContext.lineCap = maskContext.lineJoin = "round";
  maskContext.beginPath();
  maskContext.moveTo(...from);
  maskContext.lineTo(...to);
  maskContext.stroke();
}

function remember() {
  state.undo.push(maskContext.getImageData(0, 0, maskCanvas.width, maskCanvas.height));
  if (state.undo.length > 30) state.undo.shift();
}

maskCanvas.addEventListener("pointerdown", (event) => {
  if (!state.current || state.job) return;
  if (state.showingBefore) showResult(true);  // paint on what the next fill starts from
  maskCanvas.setPointerCapture(event.pointerId);
  remember();
  state.painting = true;
  state.last = photoPoint(event);
  stroke(state.last, state.last);
});
maskCanvas.addEventListener("pointermove", (event) => {
  if (!state.painting) return;
  const point = photoPoint(event);
  stroke(state.last, point);
  state.last = point;
});
for (const name of ["pointerup", "pointercancel"]) {
  maskCanvas.addEventListener(name, () => { state.painting = false; });
}

$("size").addEventListener("input", () => { $("size-value").value = $("size").value; });
$("erase").addEventListener("click", () => {
  const pressed = $("erase").getAttribute("aria-pressed") !== "true";
  $("erase").setAttribute("aria-pressed", String(pressed));
});
$("undo").addEventListener("click", () => {
  const previous = state.undo.pop();
  if (previous) maskContext.putImageData(previous, 0, 0);
});
$("clear").addEventListener("click", () => {
  remember();
  maskContext.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
});

// Opening photos: the file picker, dropping on the stage, the demo.
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file) openPhoto(file, file.name);
  $("file").value = "";
});
$("demo").addEventListener("click", async () => openPhoto(await (await fetch("/api/demo")).blob(), "demo.jpg"));
for (const name of ["dragenter", "dragover"]) {
  $("stage").addEventListener(name, (event) => { event.preventDefault(); $("stage").classList.add("dragging"); });
}
$("stage").addEventListener("dragleave", () => $("stage").classList.remove("dragging"));
$("stage").addEventListener("drop", (event) => {
  event.preventDefault();
  $("stage").classList.remove("dragging");
  const file = event.dataTransfer.files[0];
  if (file) openPhoto(file, file.name);
});

// The hole as the server reads masks: white (the painted pixels) on black, at the photo's resolution.
function maskPng() {
  const painted = maskContext.getImageData(0, 0, maskCanvas.width, maskCanvas.height);
  const mask = new ImageData(maskCanvas.width, maskCanvas.height);
  let holes = 0;
  for (let i = 0; i < painted.data.length; i += 4) {
    const value = painted.data[i + 3] > 127 ? 255 : 0;
    holes += value > 0;
    mask.data[i] = mask.data[i + 1] = mask.data[i + 2] = value;
    mask.data[i + 3] = 255;
  }
  const canvas = new OffscreenCanvas(mask.width, mask.height);
  canvas.getContext("2d").putImageData(mask, 0, 0);
  return holes ? canvas.convertToBlob({ type: "image/png" }) : null;
}

function describe(progress) {
  if (progress.state === "queued") return `Waiting: ${progress.position} in the queue`;
  if (!progress.level) return "Starting";
  const window = progress.windows > 1 ? ` · part ${progress.window}/${progress.windows}` : "";
  const left = progress.seconds_left == null ? "" : ` · about ${Math.ceil(progress.seconds_left)} s left`;
  return `Level ${progress.level}/${progress.levels} · evaluation ${progress.evaluation}/${progress.evaluations}${window}${left}`;
}

function running(yes) {
  $("fill").disabled = yes;
  $("cancel").hidden = !yes;
  $("progress").hidden = !yes;
  for (const id of ["file", "demo", "undo", "clear"]) $(id).disabled = yes;
}

$("fill").addEventListener("click", async () => {
  const mask = await maskPng();
  if (!mask) { say("No hole is painted: brush over what should go, then press Fill."); return; }
  forgetJob();
  const form = new FormData();
  form.append("image", state.photo, state.photoName);
  form.append("mask", mask, "mask.png");
  form.append("prior", $("prior").value);
  form.append("preset", $("preset").value);
  running(true);
  $("bar").value = 0;
  $("status").textContent = "Uploading";
  say("");
  const response = await fetch("/api/jobs", { method: "POST", body: form });
  const reply = await response.json().catch(() => ({ detail: `the server answered ${response.status}` }));
  if (!response.ok) { running(false); say(reply.detail); return; }
  state.job = reply.id;
  state.events = new EventSource(`/api/jobs/${reply.id}/events`);
  state.events.onmessage = (message) => onProgress(JSON.parse(message.data));
  state.events.onerror = () => { if (state.job) say("Lost the connection to the server; is serve.py still running?"); };
});

async function onProgress(progress) {
  $("bar").value = progress.fraction || 0;
  $("status").textContent = describe(progress);
  if (["done", "error", "cancelled"].includes(progress.state)) {
    const job = state.job;
    state.events.close();
    state.job = null;
    running(false);
    if (progress.state === "error") say(progress.message);
    if (progress.state === "cancelled") say("Cancelled.", true);
    if (progress.state === "done") await receive(job);
  }
}

async function receive(job) {
  const blob = await (await fetch(`/api/jobs/${job}/result.png`)).blob();
  navigator.sendBeacon(`/api/jobs/${job}/forget`);  // the page holds the result now; the server drops it
  Object.assign(state, { before: state.current, current: await createImageBitmap(blob), photo: blob });
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = `${state.photoName.replace(/\.[^.]*$/, "")}_inpainted.png`;
  link.hidden = $("compare").hidden = false;
  maskContext.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
  state.undo = [];
  showResult(true);
  say("Filled. Compare, download, or paint more and fill again (from this result).", true);
}

function showResult(after) {
  state.showingBefore = !after;
  photoContext.drawImage(after || !state.before ? state.current : state.before, 0, 0);
  $("compare").setAttribute("aria-pressed", String(!after));
  $("compare").textContent = after ? "Show before" : "Show after";
}
$("compare").addEventListener("click", () => showResult(state.showingBefore));

$("cancel").addEventListener("click", () => { if (state.job) fetch(`/api/jobs/${state.job}/cancel`, { method: "POST" }); });

function forgetJob() {
  if (state.job) navigator.sendBeacon(`/api/jobs/${state.job}/forget`);
  if (state.events) state.events.close();
  state.job = null;
}
window.addEventListener("pagehide", forgetJob);

loadOptions().catch(() => say("Cannot reach the server; start it with python serve.py."));
