// The page: a photo from a file, a drop or the webcam goes to POST /faces; the boxes, each
// face's emotion and its seven probabilities come back and are drawn. No libraries.
"use strict";
const CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];
const FRAME_MS = 400;   // the webcam: a frame every this many milliseconds (one request at a time)
const MAX_SIDE = 1280;  // photos are scaled down to this before they are sent

const $ = (id) => document.getElementById(id);
const canvas = $("picture"), ctx = canvas.getContext("2d"), drop = $("drop");
let stream = null, busy = false, timer = null;

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

function drawBoxes(faces) {
  const line = Math.max(2, Math.round(Math.min(canvas.width, canvas.height) / 150));
  ctx.font = `600 ${Math.max(13, Math.round(canvas.width / 45))}px system-ui, sans-serif`;
  faces.forEach((face, i) => {
    const [x, y, w, h] = face.box, c = colour(face.emotion);
    ctx.lineWidth = line;
    ctx.strokeStyle = c;
    ctx.strokeRect(x, y, w, h);
    const text = `${i + 1} ${face.emotion} ${Math.round(100 * face.probs[face.emotion])}%`;
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
async function readCanvas(live = false) {
  busy = true;
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
    status(`${n} face${n === 1 ? "" : "s"} · ${Math.round(performance.now() - started)} ms${live ? " · live" : ""}`);
  } catch (e) {
    status(`error: ${e.message}`, true);
  } finally {
    busy = false;
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

async function startCamera() {
  if (stream) { stopCamera(); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 960, height: 720 }, audio: false });
  } catch (e) {
    status(`webcam: ${e.message}`, true);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  for (const b of [$("camera"), $("camera2")]) { b.classList.add("live"); b.textContent = "Stop the webcam"; }
  timer = setInterval(() => {
    if (busy || !video.videoWidth) return;
    paint(video, video.videoWidth, video.videoHeight);
    readCanvas(true);
  }, FRAME_MS);
}

function stopCamera() {
  if (!stream) return;
  clearInterval(timer);
  stream.getTracks().forEach((t) => t.stop());
  stream = null;
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
