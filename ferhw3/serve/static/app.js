// The page: a photo from a file or a drop goes to POST /faces; the boxes, each face's emotion
// and its seven probabilities come back and are drawn. The webcam is live: the newest frame
// goes to the WebSocket /live as soon as the last answer is in (frames are dropped, never
// queued), and each answer is drawn on the very frame it answers, shown then (a picture
// behind the camera by one answer's time, its boxes where its faces are). No libraries.
"use strict";
const CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];
const MAX_SIDE = 1280;  // photos are scaled down to this before they are sent
const LIVE_SIDE = 640;  // webcam frames are sent at most this large (the faces are found as well, sooner)
const PANEL_MS = 250;   // the webcam: the probabilities panel is redrawn at most this often

const $ = (id) => document.getElementById(id);
const canvas = $("picture"), ctx = canvas.getContext("2d"), drop = $("drop");
const grab = document.createElement("canvas"), grabCtx = grab.getContext("2d");
let stream = null, socket = null, waiting = false, latest = [], panelAt = 0, sentAt = 0;
// what the live view has done, for people (the status line) and for tests
const live = window.liveStats = { sent: 0, answers: 0, boxes: 0, latencies: [], errors: 0, started: 0 };

function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim() || "#ffb000";
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// Draw a picture (an image or a video frame) on the canvas at most MAX_SIDE on its longer side.
function paint(source, width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  drop.classList.add("has-picture");
}

// The faces' boxes and labels over the picture; `k`: canvas pixels per pixel of the picture sent.
function drawBoxes(faces, k = 1) {
  const line = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 150));
  ctx.font = `600 ${Math.max(13, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  faces.forEach((face, i) => {
    const [x, y, w, h] = face.box.map((v) => v * k), c = colour(face.emotion);
    ctx.lineWidth = line;
    ctx.strokeStyle = c;
    ctx.strokeRect(x, y, w, h);
    const name = face.track === undefined || face.track === null ? i + 1 : `#${face.track}`;
    const text = `${name} ${face.emotion} ${Math.round(100 * face.probs[face.emotion])}%`;
    const tw = ctx.measureText(text).width, th = parseInt(ctx.font.split(" ")[1], 10) + 8;
    const ty = y - th >= 0 ? y - th : y + h;
    ctx.fillStyle = c;
    ctx.fillRect(x - line / 2, ty, tw + 12, th);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 6 - line / 2, ty + th - 8);
  });
}

function listFaces(faces) {
  const list = $("faces");
  list.replaceChildren();
  if (!faces.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No face found. Faces that look at the camera, 36 pixels or larger, are found best.";
    list.append(p);
    return;
  }
  faces.forEach((face, i) => {
    const card = document.createElement("article");
    card.className = "face";
    card.dataset.emotion = face.emotion;
    card.dataset.box = face.box.join(",");
    const title = document.createElement("h2");
    title.innerHTML = `<span>Face ${i + 1} · <span class="emotion"></span></span><small></small>`;
    title.querySelector(".emotion").textContent = face.emotion;
    title.querySelector(".emotion").style.color = colour(face.emotion);
    title.querySelector("small").textContent = `${face.box[2]}×${face.box[3]} px`;
    card.append(title);
    for (const name of CLASSES) {
      const p = face.probs[name], row = document.createElement("div");
      row.className = "bar" + (name === face.emotion ? " top" : "");
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector(".name").textContent = name;
      row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".fill").style.background = colour(name);
      row.querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
      card.append(row);
    }
    list.append(card);
  });
}

// Send the canvas as it is now; draw what comes back on the same pixels.
async function readCanvas() {
  const started = performance.now();
  try {
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.92));
    const form = new FormData();
    form.append("image", blob, "picture.jpg");
    const answer = await fetch("/faces", { method: "POST", body: form });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || `HTTP ${answer.status}`);
    drawBoxes(body.faces);
    listFaces(body.faces);
    const n = body.faces.length;
    status(`${n} face${n === 1 ? "" : "s"} · ${Math.round(performance.now() - started)} ms`);
  } catch (e) {
    status(`error: ${e.message}`, true);
  }
}

function showFile(file) {
  if (!file) return;
  stopCamera();
  if (!file.type.startsWith("image/")) { status(`${file.name}: not an image`, true); return; }
  const url = URL.createObjectURL(file), img = new Image();
  img.onload = () => { paint(img, img.naturalWidth, img.naturalHeight); URL.revokeObjectURL(url); readCanvas(); };
  img.onerror = () => status(`${file.name}: this browser cannot read it as an image`, true);
  img.src = url;
}

// The newest frame of the webcam to /live, at most LIVE_SIDE on its longer side.
function sendFrame() {
  const video = $("video");
  if (!socket || socket.readyState !== WebSocket.OPEN || waiting || !video.videoWidth) return;
  const scale = Math.min(1, LIVE_SIDE / Math.max(video.videoWidth, video.videoHeight));
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grabCtx.drawImage(video, 0, 0, grab.width, grab.height);
  waiting = true;
  sentAt = performance.now();
  grab.toBlob((blob) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) { waiting = false; return; }
    socket.send(blob);
    live.sent += 1;
  }, "image/jpeg", 0.85);
}

// Each answer: the frame it answers is shown with its boxes, and the newest frame goes.
function answered(event) {
  waiting = false;
  const body = JSON.parse(event.data);
  if (body.error) { live.errors += 1; status(`error: ${body.error}`, true); sendFrame(); return; }
  latest = body.faces;
  paint(grab, grab.width, grab.height);
  drawBoxes(latest);
  const now = performance.now();
  live.answers += 1;
  if (latest.length) live.boxes += 1;
  live.latencies.push(now - sentAt);  // from the frame's capture to its boxes drawn
  if (live.latencies.length > 100) live.latencies.shift();
  sendFrame();
  if (now - panelAt >= PANEL_MS) {
    panelAt = now;
    listFaces(latest);
    const ms = [...live.latencies].sort((a, b) => a - b)[Math.floor(live.latencies.length / 2)];
    const rate = live.answers / ((now - live.started) / 1000);
    const n = latest.length;
    status(`${n} face${n === 1 ? "" : "s"} · ${Math.round(ms)} ms · ${rate.toFixed(1)} frames/s · live`);
  }
}

async function startCamera() {
  if (stream) { stopCamera(); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    status(`webcam: ${e.message}${window.isSecureContext ? "" : " (a webcam needs https or localhost)"}`, true);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  for (const b of [$("camera"), $("camera2")]) { b.classList.add("live"); b.textContent = "Stop the webcam"; }
  latest = [];
  waiting = false;
  live.started = performance.now();
  socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/live`);
  socket.onopen = sendFrame;
  socket.onmessage = answered;
  socket.onerror = () => status("webcam: the live connection failed", true);
}

function stopCamera() {
  if (!stream) return;
  stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (socket) socket.close();
  socket = null;
  $("camera").textContent = "Use the webcam";
  $("camera2").textContent = "Webcam";
  for (const b of [$("camera"), $("camera2")]) b.classList.remove("live");
}

for (const id of ["file", "file2"]) $(id).addEventListener("change", (e) => showFile(e.target.files[0]));
for (const id of ["camera", "camera2"]) $(id).addEventListener("click", startCamera);
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  showFile(e.dataTransfer.files[0]);
});

fetch("/health").then((r) => r.json()).then((h) => {
  $("about").textContent = `${h.models.join(" + ")} · ${h.engine} · TTA ${h.tta} · ferhw3 ${h.version}`;
}).catch(() => { $("about").textContent = "the service does not answer"; });
