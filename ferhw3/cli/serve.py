"""Serve the models over HTTP: a page for people, JSON and CSV for programs.

    ferhw3 serve                                   # http://127.0.0.1:8000/ : the page
    ferhw3 serve --host 0.0.0.0 --port 8080 --role ensemble
    ferhw3 serve --model runs/vgg-bn.h5 --max-mb 5 --workers 2
    ferhw3 serve --host 0.0.0.0 --ssl-certfile cert.pem --ssl-keyfile key.pem   # https: the webcam from afar

    curl -F image=@group.jpg http://127.0.0.1:8000/faces
    curl -F image=@group.jpg 'http://127.0.0.1:8000/faces?annotate=1' -o seen.jpg
    curl --data-binary @test.csv -H 'content-type: text/csv' http://127.0.0.1:8000/predict -o out.csv

Endpoints: ferhw3/serve/app.py. Needs the `serve` extra (FastAPI, uvicorn, websockets).
Browsers give a page the webcam only in a secure context: on this machine over
http://127.0.0.1 or localhost, from another machine over https (a certificate and its key,
self-signed will do: openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=myhost
-keyout key.pem -out cert.pem).
"""

import argparse
import json
import os

from ferhw3 import cli


def parse_args(argv=None, prog=None):
    from ferhw3.infer.predict import TTA_MODES

    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="default 8000")
    p.add_argument("--role", help="the shipped model(s) of this role in models/manifest.json for everything (default: "
                   "the `photos` role for photos, the `default` role for files of faces)")
    p.add_argument("--model", action="append", help="a saved model (.h5/.keras) instead; repeat to ensemble")
    p.add_argument("--tta", choices=TTA_MODES, help="test-time augmentation (default: the role's, or flip)")
    p.add_argument("--max-mb", type=float, default=20.0, help="the largest request body in MiB (default 20)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes, each with its own models (default 1; a 2-core machine gains little)")
    p.add_argument("--ssl-certfile", metavar="PEM", help="serve https with this certificate (with --ssl-keyfile)")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    args = p.parse_args(argv)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        p.error("--ssl-certfile and --ssl-keyfile go together")
    for f in (args.ssl_certfile, args.ssl_keyfile):
        if f and not os.path.isfile(f):
            p.error(f"{f}: no such file")
    if not 0 < args.port < 65536:
        p.error(f"--port must be 1-65535, got {args.port}")
    if args.max_mb <= 0:
        p.error(f"--max-mb must be > 0, got {args.max_mb}")
    if args.workers < 1:
        p.error(f"--workers must be 1 or more, got {args.workers}")
    return args


def main(argv=None, prog=None):
    args = parse_args(argv, prog)
    import uvicorn

    from ferhw3.serve.app import CONFIG_ENV, create_app

    settings = {"models": [os.path.abspath(m) for m in args.model] if args.model else None, "role": args.role,
                "tta": args.tta, "max_mb": args.max_mb}
    for m in settings["models"] or []:
        if not os.path.exists(m):
            raise cli.UsageError(f"{m}: model file not found")
    if args.role and not args.model:
        from ferhw3.infer import manifest

        manifest.role(args.role)  # an unknown role: a one-line error before any worker starts
    tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile} if args.ssl_certfile else {}
    url = f"{'https' if tls else 'http'}://{args.host}:{args.port}/"
    if args.workers == 1:
        app = create_app(**settings)  # the models load (and fail) before the port opens
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", **tls)
        try:
            config.load()  # the certificate is read here: a bad one fails before the port opens
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            raise cli.UsageError(f"--ssl-certfile/--ssl-keyfile: cannot be used ({e})") from None
        sock = bind(args.host, args.port)
        print(f"serving on {url} (Ctrl-C stops)", flush=True)
        uvicorn.Server(config).run(sockets=[sock])
    else:  # each worker process builds its own app from the settings
        bind(args.host, args.port).close()  # a busy port: the error before the workers start
        print(f"serving on {url} (Ctrl-C stops)", flush=True)
        os.environ[CONFIG_ENV] = json.dumps(settings)
        uvicorn.run("ferhw3.serve.app:create_app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level="warning", **tls)


def bind(host: str, port: int):
    """A listening socket on host:port, or a one-line UsageError (a busy port, an address not
    of this machine), so that "serving on" is said only once it is true."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        raise cli.UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock
