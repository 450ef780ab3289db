// nsynth pad: corners -> grid render -> an XY pad played with Web Audio.
// The page's state lives in window.nsynthPad, so a test (or a curious user) can read it.
"use strict";

const pad = (window.nsynthPad = {
  corners: [null, null, null, null], // sound ids NW NE SW SE
  key: null, // the rendered grid
  status: "idle",
  resolution: 0,
  pitches: [],
  position: { x: 0.5, y: 0.5 }, // x west->east, y north->south, in [0, 1]
  weights: [], // [{row, col, weight}]: the four grid points around the position, weights sum to 1
  voices: [], // notes sounding: {note, pitch, rate, parts: [{row, col, url, gain}]}
  octave: 0,
  midi: "unavailable",
});

const $ = (id) => document.getElementById(id);
const message = (text) => ($("message").textContent = text || "");
let audio = null; // AudioContext, made on the first gesture
const buffers = new Map(); // url -> Promise<AudioBuffer>

async function call(url, options) {
  const r = await fetch(url, options);
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) throw new Error(body?.error || `${r.status} ${r.statusText}`);
  return body;
}

// --- corners -------------------------------------------------------------------------

function showCorner(i, text, state) {
  const el = document.querySelector(`.corner[data-corner="${i}"]`);
  el.querySelector(".name").textContent = text; // textContent: a file name is never HTML
  el.classList.remove("ok", "bad");
  if (state) el.classList.add(state);
}

async function upload(i, file) {
  showCorner(i, `${file.name}: reading…`);
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const sound = await call("/api/sounds", { method: "POST", body: form });
    pad.corners[i] = sound.id;
    showCorner(i, `${sound.name} (${sound.seconds.toFixed(2)} s)`, "ok");
    message("");
  } catch (e) {
    pad.corners[i] = null;
    showCorner(i, "drop a sound", "bad");
    message(e.message);
  }
}

document.querySelectorAll(".corner").forEach((el) => {
  const i = Number(el.dataset.corner);
  const input = el.querySelector("input");
  el.addEventListener("click", () => input.click());
  el.addEventListener("keydown", (e) => { if (e.key === "Enter") input.click(); });
  input.addEventListener("change", () => input.files[0] && upload(i, input.files[0]));
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
    sounds.slice(0, 4).forEach((s, i) => {
      pad.corners[i] = s.id;
      showCorner(i, `${s.name} (${s.seconds.toFixed(2)} s)`, "ok");
    });
    message("");
  } catch (e) { message(e.message); }
});

// --- render --------------------------------------------------------------------------

let polling = null;

$("settings").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (pad.corners.some((c) => !c)) return message("give all four corners a sound first");
  const pitches = $("pitches").value.split(/[ ,]+/).filter(Boolean).map(Number);
  const body = {
    corners: pad.corners,
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
  const eta = job.eta == null ? "" : `, about ${Math.ceil(job.eta)} s left`;
  $("progress-text").textContent = `${job.status}: ${Math.round(100 * job.progress)} % of ${job.notes} notes${eta}`;
  const busy = job.status === "queued" || job.status === "running";
  $("cancel").disabled = !busy;
  $("render").disabled = busy;
  if (job.error) message(job.error);
  if (busy) {
    polling = setTimeout(async () => {
      try { follow(await call(`/api/grids/${job.key}`)); } catch (e) { message(e.message); }
    }, 400);
  } else if (job.status === "done") {
    loadGrid(job.key);
  }
}

async function loadGrid(key) {
  const m = await call(`/api/grids/${key}/manifest`);
  pad.resolution = m.resolution;
  pad.pitches = m.pitches;
  pad.status = "ready";
  $("export").href = `/api/grids/${key}/export.zip`;
  $("export").hidden = false;
  buffers.clear();
  place(pad.position.x, pad.position.y);
}

// --- the pad -------------------------------------------------------------------------

const url = (pitch, row, col) => `/api/grids/${pad.key}/audio/${pitch}/${row}/${col}.wav`;

// Bilinear weights of the four grid points around (x, y): they sum to one.
function neighbours(x, y, res) {
  const u = x * (res - 1), v = y * (res - 1);
  const c0 = Math.min(Math.floor(u), res - 2), r0 = Math.min(Math.floor(v), res - 2);
  const fu = u - c0, fv = v - r0;
  return [
    { row: r0, col: c0, weight: (1 - fu) * (1 - fv) },
    { row: r0, col: c0 + 1, weight: fu * (1 - fv) },
    { row: r0 + 1, col: c0, weight: (1 - fu) * fv },
    { row: r0 + 1, col: c0 + 1, weight: fu * fv },
  ];
}

function place(x, y) {
  pad.position = { x: Math.min(1, Math.max(0, x)), y: Math.min(1, Math.max(0, y)) };
  if (pad.resolution >= 2) {
    pad.weights = neighbours(pad.position.x, pad.position.y, pad.resolution);
    for (const voice of pad.voices) setGains(voice);
    showPoint();
  }
  draw();
}

let shown = "";
function showPoint() {
  const res = pad.resolution;
  const row = Math.round(pad.position.y * (res - 1)), col = Math.round(pad.position.x * (res - 1));
  const pitch = pad.voices.length ? pad.voices[pad.voices.length - 1].pitch : pad.pitches[Math.floor(pad.pitches.length / 2)];
  const src = `/api/grids/${pad.key}/rainbowgram/${pitch}/${row}/${col}.png`;
  if (src !== shown) {
    shown = src;
    $("rainbowgram").src = src;
    $("point").textContent = `nearest point: row ${row}, column ${col}, pitch ${pitch}`;
  }
}

function draw() {
  const c = $("pad"), g = c.getContext("2d"), w = c.width, h = c.height, res = pad.resolution;
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#444";
  for (let i = 0; i < res; i++) for (let j = 0; j < res; j++) {
    g.beginPath();
    g.arc(16 + (j * (w - 32)) / (res - 1), 16 + (i * (h - 32)) / (res - 1), 4, 0, 2 * Math.PI);
    g.fill();
  }
  const at = (row, col) => [16 + (col * (w - 32)) / (res - 1), 16 + (row * (h - 32)) / (res - 1)];
  g.fillStyle = "rgba(102, 204, 255, 0.5)";
  for (const p of pad.weights) { // the four points that sound, each as large as its weight
    const [x, y] = at(p.row, p.col);
    g.beginPath();
    g.arc(x, y, 4 + 14 * p.weight, 0, 2 * Math.PI);
    g.fill();
  }
  g.fillStyle = "#888";
  g.font = "12px system-ui";
  ["NW", "NE", "SW", "SE"].forEach((name, k) => g.fillText(name, k % 2 ? w - 28 : 4, k < 2 ? 12 : h - 4));
  const px = 16 + pad.position.x * (w - 32), py = 16 + pad.position.y * (h - 32);
  g.strokeStyle = pad.voices.length ? "#fc6" : "#6cf";
  g.lineWidth = 3;
  g.beginPath();
  g.arc(px, py, 12, 0, 2 * Math.PI);
  g.stroke();
}

const canvas = $("pad");
function pointer(e) {
  const r = canvas.getBoundingClientRect();
  place((e.clientX - r.left - (16 * r.width) / canvas.width) / (r.width * (1 - 32 / canvas.width)),
        (e.clientY - r.top - (16 * r.height) / canvas.height) / (r.height * (1 - 32 / canvas.height)));
}
canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); ensureAudio(); pointer(e); });
canvas.addEventListener("pointermove", (e) => { if (e.buttons) pointer(e); });

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
  // the voice's four parts follow the pad: each gain glides to its point's current weight
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
  if (pad.status !== "ready") return;
  ensureAudio();
  const pitch = pad.pitches.reduce((a, p) => (Math.abs(p - note) < Math.abs(a - note) ? p : a));
  const voice = { note, pitch, rate: 2 ** ((note - pitch) / 12), velocity, parts: [], t0: audio.currentTime };
  pad.voices.push(voice);
  setGains(voice);
  showPoint();
  draw();
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

const stop = (note) => pad.voices.filter((v) => v.note === note).forEach((v) => release(v));

// computer keyboard: A W S E D F T G Y H U J K = C4 ... C5; Z / X shift an octave
const KEYS = "awsedftgyhujk";
const held = new Set();
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.repeat) return;
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

draw();
