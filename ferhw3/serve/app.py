"""The HTTP service: photos in, faces and emotions out (FastAPI on uvicorn, the `serve` extra).

    GET  /           the page: pick, drop or film a photo; boxes, emotions and bars drawn on it
    GET  /health     {"models": [...], "role": "photos", "engine": "openvino", "tta": "flip",
                      "csv": {"models": [...], "role": "default", "tta": "flip"}, "version": "..."}
    POST /faces      multipart field `image` -> {"faces": [{box, label, emotion, probs}], width, height}
                     (?annotate=1: the annotated JPEG instead)
    WS   /live       a WebSocket of frames (binary messages, each a JPEG or PNG) -> one JSON message
                     a frame, as /faces gives and with each face's `track`: the faces followed
                     from frame to frame (ferhw3.detect.follow) and smoothed along their tracks;
                     the page's webcam view sends the newest frame once the last answer is in
    POST /predict    a CSV body (text/csv) or a multipart upload of what predict.py reads (a CSV,
                     plain or gzip; an image) -> the CSV predict.py writes (?probs=1: with the
                     seven probabilities)

Models load once, when the app is made. Bad requests are a 4xx with `{"error": "one line"}`;
a body over the limit is a 413, its bytes read and dropped (up to a bound) rather than kept,
so that the client, still sending, hears the answer. The work of a request runs in a thread of
the server's pool: uploaded photos are searched side by side on a detector of PHOTO_STREAMS
infer requests, a stream's frames on the recogniser's own (every core a call); OpenVINO's
inference requests of the expression networks are made per call.
"""

import io
import json
import os
import tempfile

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..data.read import CLASS_NAMES
from ..errors import DataError, UsageError

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_MB = 20.0             # the largest request body, MiB
DRAIN_MB = 100.0          # a body over the limit is read and dropped up to this much, so the client gets the 413
PHOTO_STREAMS = 2          # uploaded photos searched side by side (ferhw3.detect.blazeface streams)
CONFIG_ENV = "FERHW3_SERVE"  # the app's settings as JSON, for `create_app_from_env` (uvicorn workers)


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being received."""


class LimitBody:
    """ASGI middleware: a 413 for a body whose Content-Length is over `max_bytes`, and an
    end to one that passes it while streaming (chunked, or a Content-Length that lies)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            # read and drop the body first (up to a bound): a client still sending when the
            # connection closes sees a reset, not the answer
            if int(length) <= self.drain_limit():
                await drain(receive, self.drain_limit())
            return await _send_json(send, 413, too_large(self.max_bytes))
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    if message.get("more_body"):
                        await drain(receive, self.drain_limit() - seen)
                    raise BodyTooLarge()
            return message

        await self.app(scope, counted, send)


    def drain_limit(self) -> int:
        """How much of a body over the limit is read and dropped so that the client hears
        the 413: four times the limit, and at least DRAIN_MB."""
        return max(4 * self.max_bytes, int(DRAIN_MB * 2**20))


async def drain(receive, budget: int) -> None:
    """Read and drop what is left of a request's body, up to `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body"):
            return


def too_large(max_bytes: int) -> str:
    return f"the request body is over the limit of {max_bytes / 2**20:g} MiB (ferhw3 serve --max-mb)"


async def _send_json(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Service:
    """The models and the detector, loaded once; what the endpoints call (in threads)."""

    def __init__(self, models=None, role: str | None = None, tta=None):
        from ..infer import manifest
        from ..infer.photos import Recogniser
        from ..infer.predict import load_predictors

        # without a model or role named, photos go to the `photos` role's networks, files of
        # FER2013 faces to the default role's (the models the two shared are loaded once)
        self.recogniser = Recogniser(models, role=role or "photos", tta=tta)
        # uploaded photos come several at once: their searches run side by side, one core each
        # (POST /faces at concurrency 4: 13.1 requests/s, 10.6 with one request on both cores the
        # run before: bench/results_live.md); a stream's frames keep the recogniser's detector,
        # every core on each call
        from .. import detect

        self.photo_finder = detect.create(detect.DEFAULT, streams=PHOTO_STREAMS)
        self.role = None if models else role or "photos"
        if models or role:
            self.csv_role, self.csv_paths, self.csv_tta = self.role, self.recogniser.paths, self.recogniser.tta
            self.csv_models = self.recogniser.models
        else:
            self.csv_role, self.csv_paths = "default", manifest.role("default")
            self.csv_tta = tta or manifest.role_tta("default") or "flip"
            loaded = dict(zip(self.recogniser.paths, self.recogniser.models)) if self.csv_tta == self.recogniser.tta else {}
            self.csv_models = [loaded[p] if p in loaded else load_predictors([p], self.csv_tta)[0] for p in self.csv_paths]

    def health(self) -> dict:
        names = lambda paths: [os.path.basename(p) for p in paths]  # noqa: E731
        return {"models": names(self.recogniser.paths), "role": self.role, "engine": self.recogniser.engine,
                "tta": self.recogniser.tta, "csv": {"models": names(self.csv_paths), "role": self.csv_role,
                                                   "tta": self.csv_tta}, "version": __version__}

    def faces(self, data: bytes, name: str):
        """(RGB array, faces) of an uploaded photo."""
        from ..data.read import open_image

        rgb = np.asarray(open_image(io.BytesIO(data), convert="RGB", name=name))
        return rgb, self.recogniser.faces(rgb, detector=self.photo_finder)

    def stream(self):
        """A stream's state (ferhw3.infer.video.Stream): what one webcam's frames are read with."""
        from ..infer.video import Stream

        return Stream(self.recogniser)

    def frame(self, stream, data: bytes) -> dict:
        """The answer to one frame of a stream: its faces, size and the milliseconds it took."""
        import time

        from ..data.read import open_image

        start = time.perf_counter()
        grey = np.asarray(open_image(io.BytesIO(data), name="frame"))  # the networks read grey
        faces = stream.update(grey)
        return {"faces": [dict(face_json(f), track=f.track) for f in faces], "width": int(grey.shape[1]),
                "height": int(grey.shape[0]), "frame": stream.frame - 1,
                "ms": round(1000 * (time.perf_counter() - start), 1)}

    def predict(self, data: bytes, name: str, probs: bool) -> str:
        """The CSV predict.py writes for an uploaded file of faces (`name` says its kind)."""
        from ..data.read import load_faces
        from ..infer.outputs import image_labels, submission
        from ..infer.predict import predict_proba

        with tempfile.TemporaryDirectory(prefix="ferhw3-serve-") as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            try:
                faces = load_faces(path)
            except (DataError, UsageError) as e:  # the message names the upload, not the temporary file
                raise DataError(str(e).replace(path, name).replace(tmp + os.sep, "")) from None
        p = predict_proba(self.csv_models, faces.x, tta=self.csv_tta)
        labels = p.argmax(axis=1)
        if faces.names is not None:
            header, rows = image_labels([name], labels, p)
        else:
            ids = faces.ids if faces.ids is not None else np.arange(len(faces))
            header, rows = submission(ids, labels, p if probs else None)
        return "\n".join([header, *rows]) + "\n"


def face_json(face) -> dict:
    return {"box": [int(v) for v in face.box], "label": face.label, "emotion": face.emotion,
            "probs": {c: round(float(p), 4) for c, p in zip(CLASS_NAMES, face.probs)}}


def upload_name(filename, default: str) -> str:
    """A safe file name for an upload (its own base name, if it has a usable one)."""
    base = os.path.basename((filename or "").replace("\\", "/")).strip()
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:100] or default


def create_app(models=None, role: str | None = None, tta=None, max_mb: float = MAX_MB):
    """The FastAPI app, its models loaded now."""
    service = Service(models, role=role, tta=tta)
    max_bytes = int(max_mb * 2**20)
    app = FastAPI(title="ferhw3", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.service = service

    def error(status: int, text: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(text).split())}, status_code=status)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request, exc):
        return error(413, too_large(max_bytes))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc):  # 404, 405 and the like, as JSON errors too
        return error(exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc):  # a query parameter that is not a number, say
        where = ".".join(str(p) for p in exc.errors()[0].get("loc", ())) if exc.errors() else "request"
        return error(400, f"{where}: {exc.errors()[0].get('msg', 'invalid') if exc.errors() else 'invalid'}")

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # never a traceback to the client
        return error(500, f"unexpected {type(exc).__name__}: {str(exc)[:200]}")

    async def read_upload(request: Request, field: str) -> tuple[bytes, str]:
        kind = request.headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            raise DataError(f"send a multipart/form-data request with the file in the field '{field}' "
                            f"(got content type {kind or 'none'})")
        try:
            form = await request.form(max_files=4, max_fields=20, max_part_size=max_bytes)
        except BodyTooLarge:
            raise
        except Exception as e:  # noqa: BLE001  python-multipart's errors: a malformed body
            raise DataError(f"the multipart body cannot be read ({str(e)[:120] or type(e).__name__})") from None
        upload = form.get(field)
        if upload is None or not hasattr(upload, "read"):
            fields = ", ".join(form.keys()) or "none"
            raise DataError(f"missing the file field '{field}' (fields sent: {fields})")
        data = await upload.read()
        if not data:
            raise DataError(f"the file in '{field}' is empty")
        return data, upload_name(upload.filename, field)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC, "index.html"), media_type="text/html")

    @app.get("/health")
    async def health():
        return service.health()

    @app.post("/faces")
    async def faces(request: Request, annotate: int = 0):
        try:
            data, name = await read_upload(request, "image")
            rgb, found = await run_in_threadpool(service.faces, data, name)
        except (DataError, UsageError) as e:
            return error(400, str(e))
        if annotate:
            from ..infer.photos import annotate as draw

            out = io.BytesIO()
            draw(rgb, found).save(out, format="JPEG", quality=90)
            return Response(out.getvalue(), media_type="image/jpeg")
        return {"faces": [face_json(f) for f in found], "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}

    @app.websocket("/live")
    async def live(ws: WebSocket):
        await ws.accept()
        stream = service.stream()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if not data:
                    await ws.send_json({"error": "send each frame as a binary message: a JPEG or PNG picture"})
                elif len(data) > max_bytes:
                    await ws.send_json({"error": too_large(max_bytes)})
                else:
                    try:
                        await ws.send_json(await run_in_threadpool(service.frame, stream, data))
                    except (DataError, UsageError) as e:
                        await ws.send_json({"error": " ".join(str(e).split())})
        except WebSocketDisconnect:
            pass

    @app.post("/predict")
    async def predict(request: Request, probs: int = 0):
        try:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                data, name = await read_upload(request, "file")
            else:
                data, name = await request.body(), "upload.csv"
                if not data:
                    raise DataError("the request body is empty: send a CSV (id,feature) or upload a file")
            text = await run_in_threadpool(service.predict, data, name, bool(probs))
        except (DataError, UsageError) as e:
            return error(400, str(e))
        return PlainTextResponse(text, media_type="text/csv")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(LimitBody, max_bytes=max_bytes)
    return app


def create_app_from_env():
    """The app from the settings in FERHW3_SERVE (JSON), for uvicorn's workers (`factory=True`)."""
    return create_app(**json.loads(os.environ.get(CONFIG_ENV, "{}")))
