// nsynth pad: sounds -> render -> a pad played with Web Audio.
// Four sounds make a grid (an XY pad, NSynth Super style); two make a line (a strip from A to B).
// The page's state lives in window.nsynthPad, so a test (or a curious user) can read it.
"use strict";

const MODES = {
  grid: { slots: 4, labels: ["NW", "NE", "SW", "SE"], resolution: 3, most: 9, what: "Points per side",
          drop: "Drop a sound file on each corner", missing: "give all four corners a sound first",
          how: "Hold the mouse down on the pad and move it, or point at a spot and hold keys" },
  line: { slots: 2, labels: ["A", "B"], resolution: 5, most: 16, what: "Points from A to B",
          drop: "Drop a sound file on A and on B", missing: "give A and B a sound first",
          how: "Hold the mouse down on the strip and slide between A and B, or point at a spot and hold keys" },
};

const pad = (window.nsynthPad = {
  mode: "grid",
  corners: [null, null, null, null], // sound ids in the boxes: NW NE SW SE, or A B (the first two)
  names: [null, null, null, null], // their file names
  key: null, // the rendered grid or line
  status: "idle",
  rows: 0, // 1 for a line
  resolution: 0, // points per side (grid) or along the line
  pitches: [],
  rendered: [], // the file names of the sounds the render was made from, in corner order
  position: { x: 0.5, y: 0.5 }, // x west->east (A->B), y north->south, in [0, 1]
  weights: [], // [{row, col, weight}]: the points around the position that sound; weights sum to 1
  voices: [], // notes sounding: {note, pitch, rate, parts: [{row, col, url, gain}]}
  labels: [], // the sound names written on the pad, as drawn
  octave: 0,
  midi: "unavailable",
});

const $ = (id) => document.getElementById(id);
const message = (text) => ($("message").textContent = text || "");
let audio = null; // AudioContext, made on the first gesture
const buffers = new Map(); // url -> Promise<AudioBuffer>
const resolutions = { grid: MODES.grid.resolution, line: MODES.line.resolution };

async function call(url, options) {
  const r = await fetch(url, options);
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.error || `${r.status} ${r.statusText}`);
  return body;
}

// --- mode ----------------------------------------------------------------------------

function setMode(mode) {
  const m = MODES[mode];
  resolutions[pad.mode] = Number($("resolution").value) || resolutions[pad.mode];
  pad.mode = mode;
  document.querySelectorAll(".corner").forEach((el, i) => {
    el.hidden = i >= m.slots;
    el.querySelector(".label").textContent = m.labels[i] || "";
  });
  $("drop-text").textContent = m.drop;
  $("resolution-text").textContent = m.what;
  $("resolution").max = m.most;
  $("resolution").value = resolutions[mode];
  $("pad").classList.toggle("strip", mode === "line");
  $("how").innerHTML = `${m.how} (<kbd>A</kbd> <kbd>W</kbd> <kbd>S</kbd> … <kbd>K</kbd> play C4 to C5, ` +
    `<kbd>Z</kbd>/<kbd>X</kbd> an octave down/up), or play a MIDI keyboard.`;
  if (pad.key) unload();
  draw();
}

function unload() {
  // the pad plays one render; a render of the other mode is one click away (and cached)
  for (const v of [...pad.voices]) release(v);
  clearTimeout(polling);
  Object.assign(pad, { key: null, status: "idle", rows: 0, resolution: 0, pitches: [], rendered: [], weights: [] });
  $("export").hidden = true;
  $("rainbowgram").hidden = true;
  $("point").textContent = "";
  $("progress-text").textContent = "";
  $("bar").style.width = "0";
  $("render").disabled = false;
  $("cancel").disabled = true;
  shown = "";
}

document.querySelectorAll('input[name="mode"]').forEach((el) =>
  el.addEventListener("change", () => el.checked && setMode(el.value)));

// --- corners -------------------------------------------------------------------------

const texts = [null, null, null, null]; // what each box says about its sound
const uploads = [0, 0, 0, 0]; // the latest upload to each box: an older one that ends later is dropped

function showCorner(i, text, state) {
  const el = document.querySelector(`.corner[data-corner="${i}"]`);
  el.querySelector(".name").textContent = text; // textContent: a file name is never HTML
  el.classList.remove("ok", "bad");
  if (state) el.classList.add(state);
}

function keep(i, sound) {
  pad.corners[i] = sound.id;
  pad.names[i] = sound.name;
  texts[i] = `${sound.name} (${sound.seconds.toFixed(2)} s)`;
  showCorner(i, texts[i], "ok");
}

async function upload(i, file) {
  const mine = ++uploads[i];
  showCorner(i, `${file.name}: reading…`, pad.corners[i] ? "ok" : null);
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const sound = await call("/api/sounds", { method: "POST", body: form });
    if (mine !== uploads[i]) return;
    keep(i, sound);
    message("");
  } catch (e) {
    if (mine !== uploads[i]) return;
    const why = e.message.startsWith(file.name) ? e.message : `${file.name}: ${e.message}`;
    if (pad.corners[i]) { // a bad file leaves the sound that was there
      showCorner(i, texts[i], "ok");
      message(`${why}; ${MODES[pad.mode].labels[i]} keeps ${pad.names[i]}`);
    } else {
      showCorner(i, "drop a sound", "bad");
      message(why);
    }
  }
  draw();
}

document.querySelectorAll(".corner").forEach((el) => {
  const i = Number(el.dataset.corner);
  const input = el.querySelector("input");
  el.addEventListener("click", () => input.click());
  el.addEventListener("keydown", (e) => { if (e.key === "Enter") input.click(); });
  input.addEventListener("change", () => { if (input.files[0]) upload(i, input.files[0]); input.value = ""; });
  el.addEventListener("dragover", (e) => { e.preventDefault(); el.classList.add("over"); });
  el.addEventListener("dragleave", () => el.classList.remove("over"));
  el.addEventListener("drop", (e) => {
    e.preventDefault();
    el.classList.remove("over");
    const file = e.dataTransfer?.files?.[0];
    if (file) upload(i, file);
  });
});

$("examples").addEventListener("click", async () => {
  try {
    const sounds = await call("/api/examples");
    sounds.slice(0, MODES[pad.mode].slots).forEach((s, i) => { uploads[i]++; keep(i, s); });
    message("");
    draw();
  } catch (e) { message(e.message); }
});

// --- render --------------------------------------------------------------------------

let polling = null;

$("settings").addEventListener("submit", async (e) => {
  e.preventDefault();
  const corners = pad.corners.slice(0, MODES[pad.mode].slots);
  if (corners.some((c) => !c)) return message(MODES[pad.mode].missing);
  // MIDI numbers or note names (C4, F#2, Bb3): the server reads both, by the library's pitch rule
  const pitches = $("pitches").value.split(/[ ,]+/).filter(Boolean).map((p) => (/^[+-]?[0-9]+(\.0*)?$/.test(p) ? Number(p) : p));
  const body = {
    corners,
    resolution: Number($("resolution").value),
    pitches,
    seconds: $("seconds").value === "" ? null : Number($("seconds").value),
  };
  try {
    const job = await call("/api/grids", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    message("");
    follow(job);
  } catch (err) { message(err.message); }
});

$("cancel").addEventListener("click", async () => {
  if (!pad.key) return;
  try { follow(await call(`/api/grids/${pad.key}`, { method: "DELETE" })); } catch (e) { message(e.message); }
});

function follow(job) {
  pad.key = job.key;
  pad.status = job.status;
  clearTimeout(polling);
  $("bar").style.width = `${Math.round(100 * job.progress)}%`;
  const busy = job.status === "queued" || job.status === "running";
  // the time left is measured from the render's own speed, so it appears once the render is under way
  const eta = job.eta != null ? `, about ${Math.ceil(job.eta)} s left` : job.status === "running" ? ", measuring its speed…" : "";
  $("progress-text").textContent = `${job.status}: ${Math.round(100 * job.progress)} % of ${job.notes} notes${eta}`;
  $("cancel").disabled = !busy;
  $("render").disabled = busy;
  if (job.error) message(job.error);
  if (busy) {
    polling = setTimeout(async () => {
      try { if (pad.key === job.key) follow(await call(`/api/grids/${job.key}`)); } catch (e) { message(e.message); }
    }, 400);
  } else if (job.status === "done") {
    loadGrid(job.key);
  }
}

async function loadGrid(key) {
  const m = await call(`/api/grids/${key}/manifest`);
  if (pad.key !== key) return;
  Object.assign(pad, { rows: m.rows, resolution: m.resolution, pitches: m.pitches, rendered: m.corners, status: "ready" });
  $("export").href = `/api/grids/${key}/export.zip`;
  $("export").hidden = false;
  buffers.clear();
  place(pad.position.x, pad.position.y);
}

// --- the pad -------------------------------------------------------------------------

const url = (pitch, row, col) => `/api/grids/${pad.key}/audio/${pitch}/${row}/${col}.wav`;

// The points around the position and their weights (they sum to one): on a grid the four
// around (x, y), bilinear; on a line the two around x, linear.
function neighbours(x, y, rows, res) {
  const u = x * (res - 1), c0 = Math.min(Math.floor(u), res - 2), fu = u - c0;
  if (rows === 1) return [{ row: 0, col: c0, weight: 1 - fu }, { row: 0, col: c0 + 1, weight: fu }];
  const v = y * (res - 1), r0 = Math.min(Math.floor(v), res - 2), fv = v - r0;
  return [
    { row: r0, col: c0, weight: (1 - fu) * (1 - fv) },
    { row: r0, col: c0 + 1, weight: fu * (1 - fv) },
    { row: r0 + 1, col: c0, weight: (1 - fu) * fv },
    { row: r0 + 1, col: c0 + 1, weight: fu * fv },
  ];
}

function place(x, y) {
  pad.position = { x: Math.min(1, Math.max(0, x)), y: pad.mode === "line" ? 0.5 : Math.min(1, Math.max(0, y)) };
  if (pad.status === "ready") {
    pad.weights = neighbours(pad.position.x, pad.position.y, pad.rows, pad.resolution);
    for (const voice of pad.voices) setGains(voice);
    showPoint();
  }
  draw();
}

let shown = "";
function showPoint() {
  const res = pad.resolution, line = pad.rows === 1;
  const row = line ? 0 : Math.round(pad.position.y * (res - 1)), col = Math.round(pad.position.x * (res - 1));
  const pitch = pad.voices.length ? pad.voices[pad.voices.length - 1].pitch : middlePitch();
  const src = `/api/grids/${pad.key}/rainbowgram/${pitch}/${row}/${col}.png`;
  if (src !== shown) {
    shown = src;
    $("rainbowgram").src = src;
    $("rainbowgram").hidden = false;
    const b = Math.round((100 * col) / (res - 1));
    $("point").textContent = line
      ? `nearest point: ${col + 1} of ${res} (${100 - b} % A, ${b} % B), MIDI ${pitch}`
      : `nearest point: row ${row + 1}, column ${col + 1} of ${res}, MIDI ${pitch}`;
  }
}

const middlePitch = () => pad.pitches[Math.floor(pad.pitches.length / 2)];
const canvas = $("pad");

// Where things are on the pad, in CSS pixels: the points span [left, right] x [top, bottom]
// (a line: top === bottom); the margins leave room for the names of the sounds.
function layout() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (pad.mode === "line") return { w, h, left: 30, right: w - 30, top: h * 0.62, bottom: h * 0.62 };
  return { w, h, left: 30, right: w - 30, top: 32, bottom: h - 32 };
}

function fit(g, text, room) {
  if (g.measureText(text).width <= room) return text;
  let t = text;
  while (t.length > 1 && g.measureText(`${t}…`).width > room) t = t.slice(0, -1);
  return `${t}…`;
}

function draw() {
  const L = layout(), dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(L.w * dpr) || canvas.height !== Math.round(L.h * dpr)) {
    canvas.width = Math.round(L.w * dpr);
    canvas.height = Math.round(L.h * dpr);
  }
  const g = canvas.getContext("2d"), m = MODES[pad.mode], ready = pad.status === "ready";
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, L.w, L.h);
  const rows = ready ? pad.rows : pad.mode === "line" ? 1 : 2, cols = ready ? pad.resolution : 2;
  const at = (row, col) => [
    L.left + (col * (L.right - L.left)) / (cols - 1),
    rows === 1 ? L.top : L.top + (row * (L.bottom - L.top)) / (rows - 1),
  ];
  if (pad.mode === "line") { // the strip's track
    g.strokeStyle = "#333";
    g.lineWidth = 6;
    g.beginPath();
    g.moveTo(L.left, L.top);
    g.lineTo(L.right, L.top);
    g.stroke();
  }
  g.fillStyle = ready ? "#555" : "#333";
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const [x, y] = at(i, j);
    g.beginPath();
    g.arc(x, y, 4, 0, 2 * Math.PI);
    g.fill();
  }
  // each sound's name where it sits: the render's sounds once rendered, the boxes' before
  const names = ready ? pad.rendered : pad.names.slice(0, m.slots);
  pad.labels = m.labels.map((label, k) => `${label} ${names[k] || "(empty)"}`);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "middle";
  const room = L.w / 2 - 12;
  pad.labels.forEach((text, k) => {
    const east = k % 2 === 1, south = pad.mode === "grid" && k >= 2;
    g.textAlign = east ? "right" : "left";
    const y = pad.mode === "line" ? L.top - 28 : south ? L.h - 12 : 12;
    const label = fit(g, text, room), tag = m.labels[k];
    g.fillStyle = names[k] ? "#6cf" : "#666";
    const x = east ? L.w - 8 : 8;
    g.fillText(tag, east ? x - g.measureText(label.slice(tag.length)).width : x, y);
    g.fillStyle = names[k] ? "#ccc" : "#666";
    g.fillText(label.slice(tag.length), east ? x : x + g.measureText(tag).width, y);
  });
  if (!ready) {
    g.textAlign = "center";
    g.fillStyle = "#777";
    const y = pad.mode === "line" ? L.top + 30 : L.h / 2;
    g.fillText(pad.status === "idle" ? "render (step 3), then play here" : `${pad.status}…`, L.w / 2, y);
    return;
  }
  g.fillStyle = "rgba(102, 204, 255, 0.5)";
  for (const p of pad.weights) { // the points that sound, each as large as its weight
    const [x, y] = at(p.row, p.col);
    g.beginPath();
    g.arc(x, y, 4 + 14 * p.weight, 0, 2 * Math.PI);
    g.fill();
  }
  const px = L.left + pad.position.x * (L.right - L.left);
  const py = pad.mode === "line" ? L.top : L.top + pad.position.y * (L.bottom - L.top);
  g.strokeStyle = pad.voices.length ? "#fc6" : "#6cf";
  g.lineWidth = 3;
  g.beginPath();
  g.arc(px, py, 12, 0, 2 * Math.PI);
  g.stroke();
}

function pointer(e) {
  const r = canvas.getBoundingClientRect(), L = layout();
  const y = L.bottom > L.top ? (e.clientY - r.top - L.top) / (L.bottom - L.top) : 0.5;
  place((e.clientX - r.left - L.left) / (L.right - L.left), y);
}
let mouseVoice = null; // the note the mouse button holds (the middle rendered pitch)
canvas.addEventListener("pointerdown", (e) => {
  canvas.setPointerCapture(e.pointerId);
  ensureAudio();
  pointer(e);
  if (mouseVoice) release(mouseVoice);
  mouseVoice = play(middlePitch());
});
canvas.addEventListener("pointermove", pointer); // hovering moves too: held keys follow the mouse
const lift = () => { if (mouseVoice) release(mouseVoice); mouseVoice = null; };
canvas.addEventListener("pointerup", lift);
canvas.addEventListener("pointercancel", lift);
window.addEventListener("resize", draw);

// --- sound ---------------------------------------------------------------------------

function ensureAudio() {
  if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

function buffer(u) {
  if (!buffers.has(u)) {
    buffers.set(u, fetch(u).then((r) => {
      if (!r.ok) throw new Error(`${u}: ${r.status}`);
      return r.arrayBuffer();
    }).then((b) => ensureAudio().decodeAudioData(b)));
  }
  return buffers.get(u);
}

function setGains(voice) {
  // the voice's parts follow the pad: each gain glides to its point's current weight
  const now = audio ? audio.currentTime : 0;
  voice.parts = pad.weights.map((w, k) => {
    const part = voice.parts[k];
    const same = part && part.row === w.row && part.col === w.col;
    if (same) {
      part.gain = w.weight;
      part.node?.gain.setTargetAtTime(w.weight, now, 0.015);
      return part;
    }
    if (part?.node) part.node.gain.setTargetAtTime(0, now, 0.015); // a point left behind fades out
    const next = { row: w.row, col: w.col, url: url(voice.pitch, w.row, w.col), gain: w.weight, node: null };
    start(voice, next);
    return next;
  });
}

async function start(voice, part) {
  const ctx = ensureAudio();
  const buf = await buffer(part.url);
  if (!pad.voices.includes(voice) || !voice.parts.includes(part)) return;
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.playbackRate.value = voice.rate;
  const gain = ctx.createGain();
  gain.gain.value = part.gain;
  src.connect(gain).connect(ctx.destination);
  // a point joining a sounding note starts where the note is now
  src.start(ctx.currentTime, Math.max(0, (ctx.currentTime - voice.t0) * voice.rate));
  src.onended = () => voice.parts.includes(part) && release(voice, true);
  part.node = gain;
  part.src = src;
}

function play(note, velocity = 100) {
  if (pad.status !== "ready") return null;
  ensureAudio();
  const pitch = pad.pitches.reduce((a, p) => (Math.abs(p - note) < Math.abs(a - note) ? p : a));
  const voice = { note, pitch, rate: 2 ** ((note - pitch) / 12), velocity, parts: [], t0: audio.currentTime };
  pad.voices.push(voice);
  setGains(voice);
  showPoint();
  draw();
  return voice;
}

function release(voice, ended = false) {
  const i = pad.voices.indexOf(voice);
  if (i < 0) return;
  pad.voices.splice(i, 1);
  const now = audio.currentTime;
  for (const p of voice.parts) {
    if (!ended && p.node) p.node.gain.setTargetAtTime(0, now, 0.05);
    if (!ended && p.src) p.src.stop(now + 0.3);
  }
  draw();
}

const stop = (note) => pad.voices.filter((v) => v.note === note && v !== mouseVoice).forEach((v) => release(v));

// computer keyboard: A W S E D F T G Y H U J K = C4 ... C5; Z / X shift an octave
const KEYS = "awsedftgyhujk";
const held = new Set();
const typing = (el) => el.matches?.("input[type=text], input[type=number], textarea, select");
document.addEventListener("keydown", (e) => {
  if (typing(e.target) || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key.toLowerCase();
  if (k === "z" || k === "x") { pad.octave += k === "z" ? -1 : 1; return; }
  const i = KEYS.indexOf(k);
  if (i < 0) return;
  const note = 60 + 12 * pad.octave + i;
  held.add(k);
  play(note);
  keyNotes[k] = note;
});
const keyNotes = {};
document.addEventListener("keyup", (e) => {
  const k = e.key.toLowerCase();
  if (!held.has(k)) return;
  held.delete(k);
  stop(keyNotes[k]);
});

// Web MIDI, where the browser has it
if (navigator.requestMIDIAccess) {
  navigator.requestMIDIAccess().then((access) => {
    pad.midi = "on";
    const listen = (input) => (input.onmidimessage = (m) => {
      const [status, note, velocity] = m.data;
      const kind = status & 0xf0;
      if (kind === 0x90 && velocity > 0) play(note, velocity);
      else if (kind === 0x80 || kind === 0x90) stop(note);
    });
    access.inputs.forEach(listen);
    access.onstatechange = (e) => e.port.type === "input" && e.port.state === "connected" && listen(e.port);
  }, () => (pad.midi = "refused"));
}

setMode(document.querySelector('input[name="mode"]:checked')?.value || "grid");
