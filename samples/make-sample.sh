#!/usr/bin/env bash
# Rebuild samples/http-sample.pcap and samples/expected.json from real traffic:
# nginx serves a small generated site and curl fetches and uploads files, all on
# the loopback interface of a private network namespace, captured by tcpdump.
#
# Usage (root, Debian 12):  samples/make-sample.sh           regenerate and verify
#                           samples/make-sample.sh --verify  only check the committed files
#
# Needs: ip + ss (iproute2), ethtool, nginx (with the dav module), curl, tcpdump, python3.
# Optional: tshark (verification of the capture against expected.json).
# It installs nothing and leaves nothing running; the host's own lo is not touched.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
site="$here/site"
out_pcap="$here/http-sample.pcap"
out_expected="$here/expected.json"
ns="wiresift-sample-$$"

tmp=""
ns_created=0
upload_pid=""
nginx_pid=""
tcpdump_pid=""

die() {
  echo "make-sample: $*" >&2
  exit 1
}

# Stop one process we started: polite signal first, SIGKILL after 5 s.
stop_pid() {
  local pid=$1 signal=$2
  [[ -n $pid ]] || return 0
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  stop_pid "$tcpdump_pid" INT
  stop_pid "$nginx_pid" QUIT
  stop_pid "$upload_pid" TERM
  if ((ns_created)); then
    ip netns delete "$ns"
  fi
  if [[ -n $tmp && -d $tmp ]]; then
    rm -rf -- "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

verify_only=0
case "${1:-}" in
  "") ;;
  --verify) verify_only=1 ;;
  *) die "usage: $0 [--verify]" ;;
esac

command -v python3 >/dev/null || die "missing tool: python3 (apt-get install python3)"
tmp=$(mktemp -d /tmp/wiresift-sample.XXXXXX)
tool="$tmp/sampletool.py"

# ---------------------------------------------------------------------------
# The Python half: site generator, upload endpoint, traffic plan with its
# expected results, and the tshark-based verification. Standard library only.
# ---------------------------------------------------------------------------
cat >"$tool" <<'PY'
"""Site, upload endpoint, traffic plan and verification for the HTTP sample capture."""

from __future__ import annotations

import hashlib
import json
import os
import socketserver
import struct
import subprocess
import sys
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final

SEED: Final = 0x77697265_73696674  # b"wiresift"
MTIME: Final = 1704067200  # 2024-01-01T00:00:00Z, fixed so Last-Modified/ETag never change
MTIME_HTTP: Final = "Mon, 01 Jan 2024 00:00:00 GMT"
BASE4: Final = "http://127.0.0.1:8080"
BASE6: Final = "http://[::1]:8080"
# curl's own boundaries are 24 dashes and 16 random hex digits; this one has the same
# shape with fixed digits (hex of "wiresift") so the request body is the same every run.
BOUNDARY: Final = "------------------------7769726573696674"
COOKIES: Final = "session=3f9a1c7e20b4; theme=dark"
RANGE: Final = (1000, 4999)
# nginx's built-in 301 page with server_tokens off (src/http/ngx_http_special_response.c).
NGINX_301_PAGE: Final = (
    b"<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    b"<center><h1>301 Moved Permanently</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
CONTENT_TYPES: Final = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "application/javascript",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
}
WORD_LIST: Final = (
    "packet frame segment window header payload checksum socket stream buffer "
    "request response server client proxy cache cookie session token header "
    "route gateway tunnel bridge switch capture filter decoder parser sensor "
    "latency jitter loopback interface namespace upload download archive ledger "
    "harbor meadow lantern river quartz violet amber cobalt saffron willow "
    "orbit signal beacon compass anchor summit canyon glacier prairie tundra"
)
WORDS: Final = tuple(WORD_LIST.split())
MASK64: Final = (1 << 64) - 1


class SplitMix64:
    """Small fixed PRNG so the site is byte-identical on every Python version."""

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def take(self, count: int) -> bytes:
        out = bytearray()
        while len(out) < count:
            out += self.next().to_bytes(8, "little")
        return bytes(out[:count])


def sentence(rng: SplitMix64) -> str:
    words = [WORDS[rng.below(len(WORDS))] for _ in range(6 + rng.below(10))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: SplitMix64, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def make_html(rng: SplitMix64) -> bytes:
    paras = "\n".join(
        f'    <p class="tone-{rng.below(40)}">{paragraph(rng, 4)}</p>' for _ in range(10)
    )
    items = "\n".join(f"      <li>{sentence(rng)}</li>" for _ in range(6))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        "  <title>wiresift sample site</title>\n"
        '  <link rel="stylesheet" href="/style.css">\n'
        '  <script src="/app.js" defer></script>\n</head>\n<body>\n'
        '  <header>\n    <img src="/images/logo.png" width="160" height="125" alt="logo">\n'
        "    <h1>wiresift sample site</h1>\n  </header>\n  <main>\n"
        f"{paras}\n"
        f"    <ul>\n{items}\n    </ul>\n"
        '    <p><a href="/files/report.pdf">Report (PDF)</a> \u00b7 '
        '<a href="/notes.txt">Notes</a></p>\n'
        "  </main>\n</body>\n</html>\n"
    ).encode()


def make_css(rng: SplitMix64) -> bytes:
    rules = [
        "/* wiresift sample site */",
        "body { font: 15px/1.5 sans-serif; margin: 0 auto; max-width: 46em; }",
        "header { display: flex; align-items: center; gap: 1em; }",
        "header img { border-radius: 6px; }",
        "a { color: #0b5cad; }",
    ]
    for n in range(40):
        fg, bg = rng.below(1 << 24), rng.below(1 << 24)
        rules.append(
            f".tone-{n} {{ color: #{fg:06x}; background: #{bg:06x}; "
            f"padding: {rng.below(9)}px {rng.below(17)}px; }}"
        )
    return ("\n".join(rules) + "\n").encode()


def make_js(rng: SplitMix64) -> bytes:
    palette = ",\n".join(
        "  " + ", ".join(f'"#{rng.below(1 << 24):06x}"' for _ in range(8)) for _ in range(12)
    )
    messages = ",\n".join(f'  "{sentence(rng)}"' for _ in range(24))
    return (
        '"use strict";\n'
        "// wiresift sample site: recolours paragraphs and shows a rotating message.\n"
        f"const PALETTE = [\n{palette}\n];\n"
        f"const MESSAGES = [\n{messages}\n];\n"
        "function hash(text) {\n"
        "  let h = 2166136261;\n"
        "  for (let i = 0; i < text.length; i++) {\n"
        "    h ^= text.charCodeAt(i);\n"
        "    h = Math.imul(h, 16777619) >>> 0;\n"
        "  }\n"
        "  return h;\n"
        "}\n"
        'document.addEventListener("DOMContentLoaded", () => {\n'
        '  const paragraphs = document.querySelectorAll("main p");\n'
        "  paragraphs.forEach((p) => {\n"
        "    p.style.borderLeft = `4px solid ${PALETTE[hash(p.textContent) % PALETTE.length]}`;\n"
        "  });\n"
        '  const note = document.createElement("aside");\n'
        "  note.textContent = MESSAGES[hash(document.title) % MESSAGES.length];\n"
        "  document.body.append(note);\n"
        "});\n"
    ).encode()


def make_notes(rng: SplitMix64) -> bytes:
    lines = [
        "wiresift sample notes",
        "=====================",
        "",
        "UTF-8 check: café, Größe, naïve, 東京, Ελληνικά, emoji \U0001f4e6",
        "",
    ]
    lines += [f"{n:02d}. {sentence(rng)}" for n in range(1, 37)]
    return ("\n".join(lines) + "\n").encode()


def make_404() -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        "<title>Not found</title></head>\n<body>\n"
        "  <h1>404 \u2014 not found</h1>\n"
        "  <p>The page you asked for is not part of the wiresift sample site.</p>\n"
        '  <p><a href="/index.html">Back to the start page</a></p>\n'
        "</body>\n</html>\n"
    ).encode()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC over type+data (PNG spec s5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zlib_stored(data: bytes) -> bytes:
    """zlib stream of uncompressed deflate blocks (RFC 1950, RFC 1951 s3.2.4).

    Written by hand because zlib.compress output may differ between zlib builds.
    """
    out = bytearray(b"\x78\x01")
    for start in range(0, max(len(data), 1), 0xFFFF):
        block = data[start : start + 0xFFFF]
        final = 1 if start + 0xFFFF >= len(data) else 0
        out += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    return bytes(out + struct.pack(">I", zlib.adler32(data)))


def make_png(rng: SplitMix64) -> bytes:
    """160x125 RGB picture: gradient, stripes and a little noise; about 60 KB."""
    width, height = 160, 125
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type None
        noise = rng.take(width)
        for x in range(width):
            stripe = 40 if ((x + y) // 10) % 2 else 0
            rows += bytes(
                (
                    (x * 255 // (width - 1)) ^ (noise[x] & 15),
                    (y * 255 // (height - 1) + stripe) & 255,
                    64 + x * y * 191 // ((width - 1) * (height - 1)),
                )
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"tEXt", b"Software\x00wiresift sample generator")
        + png_chunk(b"IDAT", zlib_stored(bytes(rows)))
        + png_chunk(b"IEND", b"")
    )


def make_pdf(rng: SplitMix64) -> bytes:
    """One-page PDF 1.4 with text and an uncompressed 72x72 RGB image; about 20 KB."""
    side = 72
    pixels = rng.take(side * side * 3)
    text = ["BT", "/F1 9 Tf", "11 TL", "50 742 Td", "(wiresift sample report) Tj", "T*"]
    text.extend(f"({n:02d} {sentence(rng)[:88]}) Tj T*" for n in range(1, 57))
    text += ["ET", f"q {side} 0 0 {side} 490 700 cm /Im1 Do Q"]
    content = ("\n".join(text) + "\n").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 4 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n"
        % (side, side, len(pixels))
        + pixels
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def site_files() -> dict[str, bytes]:
    """Every served file, by path under the site root; same bytes on every run."""
    rng = SplitMix64(SEED)
    return {
        "index.html": make_html(rng),
        "style.css": make_css(rng),
        "app.js": make_js(rng),
        "notes.txt": make_notes(rng),
        "images/logo.png": make_png(rng),
        "files/report.pdf": make_pdf(rng),
        "errors/404.html": make_404(),
    }


def write_site(root: Path) -> None:
    for rel, data in site_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (MTIME, MTIME))


# --- multipart upload -------------------------------------------------------

UPLOAD_COMMENT: Final = "two files from the wiresift sample"
UPLOAD_PARTS: Final = (
    ("notes", "notes.txt", "text/plain"),
    ("report", "files/report.pdf", "application/pdf"),
)


def multipart_body(site: Path) -> bytes:
    """multipart/form-data body (RFC 7578) laid out the way curl -F writes it."""
    delimiter = b"--" + BOUNDARY.encode()
    out = bytearray()
    out += delimiter + b'\r\nContent-Disposition: form-data; name="comment"\r\n\r\n'
    out += UPLOAD_COMMENT.encode() + b"\r\n"
    for field, rel, ctype in UPLOAD_PARTS:
        name = rel.rsplit("/", 1)[-1]
        out += delimiter + b"\r\n"
        out += b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (
            field.encode(),
            name.encode(),
        )
        out += b"Content-Type: %s\r\n\r\n" % ctype.encode()
        out += (site / rel).read_bytes() + b"\r\n"
    out += delimiter + b"--\r\n"
    return bytes(out)


def parse_multipart(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart body into (disposition parameters, content) pairs."""
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        params: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            key, _, value = line.decode().partition(":")
            if key.lower() == "content-disposition":
                for item in value.split(";")[1:]:
                    k, _, v = item.strip().partition("=")
                    params[k] = v.strip('"')
            elif key.lower() == "content-type":
                params["content-type"] = value.strip()
        parts.append((params, content[:-2]))  # drop the CRLF before the next delimiter
    return parts


def upload_reply(parts: list[tuple[dict[str, str], bytes]]) -> bytes:
    """The JSON the upload endpoint answers with; expected.json computes the same."""
    fields = {p["name"]: data.decode() for p, data in parts if "filename" not in p}
    files = [
        {
            "field": p["name"],
            "filename": p["filename"],
            "content_type": p.get("content-type", ""),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        for p, data in parts
        if "filename" in p
    ]
    return (json.dumps({"fields": fields, "files": files}, sort_keys=True) + "\n").encode()


class UploadHandler(BaseHTTPRequestHandler):
    """POST /upload behind nginx (proxy_pass over a unix socket): store parts, answer JSON."""

    store: Path

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        if "boundary=" not in ctype:
            self.send_error(400, "multipart/form-data expected")
            return
        boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
        parts = parse_multipart(body, boundary)
        for params, data in parts:
            if "filename" in params:
                (self.store / params["filename"]).write_bytes(data)
        reply = upload_reply(parts)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def address_string(self) -> str:
        return "nginx"


def serve_uploads(socket_path: str, store: Path) -> None:
    UploadHandler.store = store
    with socketserver.UnixStreamServer(socket_path, UploadHandler) as server:
        server.serve_forever()


# --- traffic plan and expected results ---------------------------------------


def body(data: bytes, source: str) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "source": source}


def plan(site: Path, work: Path) -> list[dict[str, Any]]:
    """The curl invocations, one TCP connection each, with the transactions they make."""
    files = {rel: (site / rel).read_bytes() for rel in site_files()}
    multipart = multipart_body(site)
    (work / "upload.multipart").write_bytes(multipart)
    parts = parse_multipart(multipart, BOUNDARY.encode())

    def get(base: str, target: str, rel: str, **extra: Any) -> dict[str, Any]:
        ctype = CONTENT_TYPES[Path(rel).suffix]
        txn = {
            "method": "GET",
            "url": base + target,
            "status": 200,
            "content_type": ctype,
            "request_body": None,
            "response_body": body(files[rel], "site/" + rel),
        }
        txn.update(extra)
        return txn

    gzip = {"content_encoding": "gzip", "transfer_encoding": "chunked"}
    lo, hi = RANGE
    return [
        {
            "what": "four GETs on one keep-alive connection, identity encoding",
            "curl": [
                [
                    f"{BASE4}/index.html",
                    f"{BASE4}/style.css",
                    f"{BASE4}/app.js",
                    f"{BASE4}/images/logo.png",
                ]
            ],
            "transactions": [
                get(BASE4, "/index.html", "index.html"),
                get(BASE4, "/style.css", "style.css"),
                get(BASE4, "/app.js", "app.js"),
                get(BASE4, "/images/logo.png", "images/logo.png"),
            ],
        },
        {
            "what": "--compressed: gzip + chunked for html/css/js, text/plain stays identity",
            "curl": [
                [
                    "--compressed",
                    f"{BASE4}/index.html",
                    f"{BASE4}/style.css",
                    f"{BASE4}/app.js",
                    f"{BASE4}/notes.txt",
                ]
            ],
            "transactions": [
                get(BASE4, "/index.html", "index.html", **gzip),
                get(BASE4, "/style.css", "style.css", **gzip),
                get(BASE4, "/app.js", "app.js", **gzip),
                get(BASE4, "/notes.txt", "notes.txt"),
            ],
        },
        {
            "what": "HEAD (Content-Length but no body) then GET on the same connection",
            "curl": [["-I", f"{BASE4}/files/report.pdf"], [f"{BASE4}/notes.txt"]],
            "transactions": [
                get(
                    BASE4,
                    "/files/report.pdf",
                    "files/report.pdf",
                    method="HEAD",
                    response_body=None,
                    content_length=len(files["files/report.pdf"]),
                ),
                get(BASE4, "/notes.txt", "notes.txt"),
            ],
        },
        {
            "what": "range request answered 206 Partial Content",
            "curl": [["-r", f"{lo}-{hi}", f"{BASE4}/images/logo.png"]],
            "transactions": [
                get(
                    BASE4,
                    "/images/logo.png",
                    "images/logo.png",
                    status=206,
                    request_range=f"bytes={lo}-{hi}",
                    content_range=f"bytes {lo}-{hi}/{len(files['images/logo.png'])}",
                    response_body=body(
                        files["images/logo.png"][lo : hi + 1],
                        f"site/images/logo.png bytes {lo}-{hi}",
                    ),
                ),
            ],
        },
        {
            "what": "HTTP/1.0 request; the server closes the connection",
            "curl": [["-0", f"{BASE4}/notes.txt"]],
            "transactions": [get(BASE4, "/notes.txt", "notes.txt", http_version="HTTP/1.0")],
        },
        {
            "what": "IPv6 request to [::1]",
            "curl": [["-g", f"{BASE6}/files/report.pdf"]],
            "transactions": [get(BASE6, "/files/report.pdf", "files/report.pdf")],
        },
        {
            "what": "multipart/form-data POST: one text field and two files",
            "curl": [
                [
                    "--data-binary",
                    f"@{work / 'upload.multipart'}",
                    "-H",
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
                    "-H",
                    "Expect:",
                    f"{BASE4}/upload",
                ]
            ],
            "transactions": [
                {
                    "method": "POST",
                    "url": f"{BASE4}/upload",
                    "status": 200,
                    "content_type": "application/json",
                    "request_body": {
                        **body(multipart, "multipart/form-data, boundary " + BOUNDARY),
                        "content_type": f"multipart/form-data; boundary={BOUNDARY}",
                        "fields": {"comment": UPLOAD_COMMENT},
                        "parts": [
                            {
                                "field": f,
                                "filename": rel.rsplit("/", 1)[-1],
                                "content_type": ct,
                                **body(files[rel], "site/" + rel),
                            }
                            for f, rel, ct in UPLOAD_PARTS
                        ],
                    },
                    "response_body": body(upload_reply(parts), "upload endpoint JSON reply"),
                },
            ],
        },
        {
            "what": "PUT upload (nginx dav_methods) with Expect: 100-continue",
            "curl": [
                [
                    "-T",
                    str(site / "files/report.pdf"),
                    "-H",
                    "Expect: 100-continue",
                    f"{BASE4}/dav/report-copy.pdf",
                ]
            ],
            "transactions": [
                {
                    "method": "PUT",
                    "url": f"{BASE4}/dav/report-copy.pdf",
                    "status": 201,
                    "interim_statuses": [100],
                    "location": f"{BASE4}/dav/report-copy.pdf",
                    "request_body": body(files["files/report.pdf"], "site/files/report.pdf"),
                    "response_body": None,
                },
            ],
        },
        {
            "what": "query string and cookies",
            "curl": [["-b", COOKIES, f"{BASE4}/index.html?lang=en&q=wire%20sift"]],
            "transactions": [
                get(BASE4, "/index.html?lang=en&q=wire%20sift", "index.html", cookie=COOKIES),
            ],
        },
        {
            "what": "204, 301, 404 and 304 on one keep-alive connection",
            "curl": [
                [f"{BASE4}/ping", f"{BASE4}/old-page", f"{BASE4}/missing.html"],
                ["-H", f"If-Modified-Since: {MTIME_HTTP}", f"{BASE4}/style.css"],
            ],
            "transactions": [
                {
                    "method": "GET",
                    "url": f"{BASE4}/ping",
                    "status": 204,
                    "request_body": None,
                    "response_body": None,
                },
                {
                    "method": "GET",
                    "url": f"{BASE4}/old-page",
                    "status": 301,
                    "content_type": "text/html",
                    "location": f"{BASE4}/index.html",
                    "request_body": None,
                    "response_body": body(NGINX_301_PAGE, "nginx built-in 301 page"),
                },
                {
                    "method": "GET",
                    "url": f"{BASE4}/missing.html",
                    "status": 404,
                    "content_type": "text/html",
                    "request_body": None,
                    "response_body": body(files["errors/404.html"], "site/errors/404.html"),
                },
                {
                    "method": "GET",
                    "url": f"{BASE4}/style.css",
                    "status": 304,
                    "if_modified_since": MTIME_HTTP,
                    "request_body": None,
                    "response_body": None,
                },
            ],
        },
    ]


CURL_COMMON: Final = ["-sS", "--max-time", "20", "-w", "%{stderr}%{http_code} %{num_connects}\\n"]


def drive(site: Path, work: Path, expected_path: Path) -> None:
    """Run every curl of the plan in order, check what came back, write expected.json."""
    connections = plan(site, work)
    for conn in connections:
        argv = ["curl"]
        for n, segment in enumerate(conn["curl"]):
            argv += (["--next"] if n else []) + CURL_COMMON + segment
        run = subprocess.run(  # noqa: S603 (argv is the fixed plan above)
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, timeout=60
        )
        report = run.stderr.decode().split()
        if run.returncode != 0:
            sys.exit(f"curl failed ({run.returncode}): {' '.join(argv)}\n{run.stderr.decode()}")
        codes = [int(code) for code in report[0::2]]
        connects = [int(count) for count in report[1::2]]
        wanted = [t["status"] for t in conn["transactions"]]
        if codes != wanted or connects != [1] + [0] * (len(wanted) - 1):
            sys.exit(f"unexpected result for {conn['what']}: codes {codes} connects {connects}")
        print(f"  {conn['what']}: {' '.join(map(str, codes))}")
    received = {p.name: p.read_bytes() for p in (work / "uploads").iterdir()}
    sent = {rel.rsplit("/", 1)[-1]: (site / rel).read_bytes() for _, rel, _ in UPLOAD_PARTS}
    if received != sent:
        sys.exit("the upload endpoint stored different bytes than were sent")
    stored = (work / "davroot/dav/report-copy.pdf").read_bytes()
    if stored != (site / "files/report.pdf").read_bytes():
        sys.exit("nginx stored different bytes for the PUT upload")

    transactions = []
    for number, conn in enumerate(connections, start=1):
        for txn in conn["transactions"]:
            url = txn["url"]
            # Every transaction has these keys; the optional ones follow.
            entry = {
                "connection": number,
                "ip_version": 6 if "[::1]" in url else 4,
                "http_version": txn.pop("http_version", "HTTP/1.1"),
                "method": txn.pop("method"),
                "url": url,
                "target": url.split(":8080", 1)[1],
                "status": txn.pop("status"),
                "interim_statuses": txn.pop("interim_statuses", []),
                "content_type": txn.pop("content_type", None),
                "content_encoding": txn.pop("content_encoding", None),
                "transfer_encoding": txn.pop("transfer_encoding", None),
                "request_body": txn.pop("request_body"),
                "response_body": txn.pop("response_body"),
            }
            entry.update({k: v for k, v in txn.items() if k != "url"})
            transactions.append(entry)
    expected = {
        "format": 1,
        "capture": "http-sample.pcap",
        "made_by": "samples/make-sample.sh: nginx and curl on the loopback interface "
        "(MTU 1500, TSO/GSO/GRO off) of a private network namespace, captured by tcpdump",
        "link_type": "EN10MB",
        "server": {"software": "nginx", "addresses": ["127.0.0.1", "::1"], "port": 8080},
        "connections": [
            {"connection": n, "what": c["what"], "transactions": len(c["transactions"])}
            for n, c in enumerate(connections, start=1)
        ],
        "transactions": transactions,
        "files": {
            rel: {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "content_type": CONTENT_TYPES[Path(rel).suffix],
            }
            for rel, data in site_files().items()
        },
    }
    expected_path.write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")


# --- verification with tshark -------------------------------------------------


def pcap_stats(path: Path) -> tuple[int, int, int]:
    """(packets, bytes on the wire, file size) of a classic pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    record = struct.Struct(endian + "IIII")
    offset, packets, wire = 24, 0, 0
    while offset + 16 <= len(data):
        _, _, caplen, wirelen = record.unpack_from(data, offset)
        offset += 16 + caplen
        packets += 1
        wire += wirelen
    return packets, wire, len(data)


def tshark(*args: str) -> str:
    command = ["tshark", "-n", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603


def verify(pcap: Path, expected_path: Path, export_dir: Path) -> int:
    """Compare the capture with expected.json using tshark; print the numbers."""
    expected = json.loads(expected_path.read_text())
    txns = expected["transactions"]
    problems: list[str] = []
    packets, wire, size = pcap_stats(pcap)
    conv = [
        line
        for line in tshark("-r", str(pcap), "-q", "-z", "conv,tcp").splitlines()
        if "<->" in line
    ]
    print(f"  capture: {packets} packets, {wire} bytes on the wire, file {size} bytes")
    print(f"  tcp conversations: {len(conv)} (expected {len(expected['connections'])})")
    if len(conv) != len(expected["connections"]):
        problems.append("connection count")

    fields = [
        "tcp.stream",
        "http.request.method",
        "http.request.uri",
        "http.request.version",
        "http.response.code",
        "http.content_type",
        "http.content_encoding",
        "http.transfer_encoding",
        "http.location",
        "http.cookie",
        "http.content_length_header",
    ]
    out = tshark(
        "-r",
        str(pcap),
        "-Y",
        "http.request or http.response",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=f",
        *[arg for f in fields for arg in ("-e", f)],
    )
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]
    requests = [
        (
            int(r["tcp.stream"]) + 1,
            r["http.request.method"],
            r["http.request.uri"],
            r["http.request.version"],
        )
        for r in rows
        if r["http.request.method"]
    ]
    want_requests = [(t["connection"], t["method"], t["target"], t["http_version"]) for t in txns]
    print(f"  http requests: {len(requests)} (expected {len(want_requests)})")
    if requests != want_requests:
        problems.append(f"requests differ: {requests} != {want_requests}")
    cookies = [r["http.cookie"] or None for r in rows if r["http.request.method"]]
    if cookies != [t.get("cookie") for t in txns]:
        problems.append(f"cookies differ: {cookies}")
    responses = [r for r in rows if r["http.response.code"]]
    want_codes = []
    for t in txns:
        want_codes += [(t["connection"], code) for code in t["interim_statuses"]]
        want_codes.append((t["connection"], t["status"]))
    codes = [(int(r["tcp.stream"]) + 1, int(r["http.response.code"])) for r in responses]
    print(
        f"  http responses: {len(codes)} (expected {len(want_codes)}, "
        f"incl. {len(want_codes) - len(txns)} interim)"
    )
    if codes != want_codes:
        problems.append(f"responses differ: {codes} != {want_codes}")
    finals = [r for r in responses if not r["http.response.code"].startswith("1")]
    for t, r in zip(txns, finals, strict=False):
        for key, field in (
            ("content_type", "http.content_type"),
            ("content_encoding", "http.content_encoding"),
            ("transfer_encoding", "http.transfer_encoding"),
            ("location", "http.location"),
            ("content_length", "http.content_length_header"),
        ):
            text = r[field].split(";")[0]
            got: str | int | None = text or None
            if key == "content_length":
                got = int(text) if text and key in t else None
            if t.get(key) != got:
                problems.append(f"{t['method']} {t['target']}: {key} {got!r} != {t.get(key)!r}")

    export_dir.mkdir(parents=True, exist_ok=True)
    tshark("-r", str(pcap), "-q", "--export-objects", f"http,{export_dir}")
    exported: dict[str, list[str]] = {}
    for path in sorted(export_dir.iterdir()):
        exported.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path.name)
    total = sum(map(len, exported.values()))
    print(f"  tshark exported objects: {total}")
    # One exported object per expected body: each match uses up the object it names.
    matched = 0
    bodies = 0
    for t in txns:
        for side in ("request_body", "response_body"):
            want = t[side]
            if want is None:
                continue
            bodies += 1
            names = exported.get(want["sha256"])
            status = f"matched {names.pop(0)}" if names else "NOT FOUND among exported objects"
            matched += status.startswith("matched")
            print(
                f"    c{t['connection']} {t['method']} {t['target']} {side.split('_')[0]} "
                f"{want['size']} B: {status}"
            )
    print(
        f"  bodies matched by sha256: {matched}/{bodies}, exported objects left over: "
        f"{total - matched}"
    )
    if matched != bodies or total != matched:
        problems.append("exported objects and expected bodies differ")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "site":
        write_site(Path(args[0]))
    elif command == "upload-server":
        serve_uploads(args[0], Path(args[1]))
    elif command == "drive":
        drive(Path(args[0]), Path(args[1]), Path(args[2]))
    elif command == "verify":
        return verify(Path(args[0]), Path(args[1]), Path(args[2]))
    else:
        sys.exit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
PY

if ((verify_only)); then
  command -v tshark >/dev/null || die "missing tool: tshark (apt-get install tshark)"
  python3 "$tool" verify "$out_pcap" "$out_expected" "$tmp/objects"
  exit $?
fi

# --- preconditions ------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "run as root: it needs a network namespace and packet capture"
declare -A package_of=(
  [ip]=iproute2 [ss]=iproute2 [ethtool]=ethtool [nginx]=nginx [curl]=curl [tcpdump]=tcpdump
)
missing=()
for tool_name in ip ss ethtool nginx curl tcpdump; do
  command -v "$tool_name" >/dev/null || missing+=("$tool_name (package ${package_of[$tool_name]})")
done
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}"

# --- the site and the server configuration -------------------------------------
[[ $site == "$here/site" ]] && rm -rf -- "$site"
python3 "$tool" site "$site"
mkdir -p "$tmp/uploads" "$tmp/davroot" "$tmp/nginx"

cat >"$tmp/nginx.conf" <<EOF
# Generated by samples/make-sample.sh; lives only for one run.
worker_processes 1;
user root;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log info;
events { worker_connections 64; }
http {
    types {
        text/html html;
        text/css css;
        application/javascript js;
        image/png png;
        application/pdf pdf;
        text/plain txt;
    }
    default_type application/octet-stream;
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server_tokens off;
    sendfile on;
    keepalive_timeout 30s;
    keepalive_requests 100;
    client_max_body_size 64m;
    gzip on;
    gzip_types text/css application/javascript;   # text/html is always included
    gzip_min_length 64;
    gzip_comp_level 6;
    gzip_vary on;

    server {
        listen 127.0.0.1:8080;
        listen [::1]:8080;
        server_name localhost;
        root $site;
        error_page 404 /errors/404.html;

        location = /ping { return 204; }
        location = /old-page { return 301 /index.html; }
        location = /upload {
            limit_except POST { deny all; }
            proxy_pass http://unix:$tmp/upload.sock:/upload;
        }
        location /dav/ {
            root $tmp/davroot;
            dav_methods PUT;
            create_full_put_path on;
        }
    }
}
EOF
nginx -t -q -c "$tmp/nginx.conf" -p "$tmp/nginx" -e "$tmp/nginx/error.log" ||
  die "nginx rejects the configuration (is the http_dav module built in?)"

# --- the namespace ------------------------------------------------------------
ip netns add "$ns"
ns_created=1
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set dev lo mtu 1500
in_ns ip link set dev lo up
in_ns ethtool -K lo tso off gso off gro off
echo "namespace $ns: lo up, mtu 1500, tso/gso/gro off"

# Upload endpoint behind nginx, over a unix socket so it adds no TCP traffic.
# Background jobs call ip directly (not in_ns): then \$! is the server's own PID, since
# ip netns exec replaces itself with the program.
ip netns exec "$ns" python3 "$tool" upload-server "$tmp/upload.sock" "$tmp/uploads" \
  2>"$tmp/upload.log" &
upload_pid=$!
ip netns exec "$ns" nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" -e "$tmp/nginx/error.log" \
  -g "daemon off;" &
nginx_pid=$!

ready=0
for _ in $(seq 100); do
  listeners=$(in_ns ss -ltnH)
  if [[ -S $tmp/upload.sock && $listeners == *"127.0.0.1:8080"* && $listeners == *"[::1]:8080"* ]]; then
    ready=1
    break
  fi
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(cat "$tmp/nginx/error.log")"
  sleep 0.1
done
((ready)) || die "nginx or the upload endpoint did not come up"

# Capture starts only now, so the namespace's lo carries nothing but the sample traffic.
ip netns exec "$ns" tcpdump -i lo -s 0 -U -Z root -w "$tmp/capture.pcap" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$tmp/tcpdump.log" 2>/dev/null && break
  kill -0 "$tcpdump_pid" 2>/dev/null || die "tcpdump exited: $(cat "$tmp/tcpdump.log")"
  sleep 0.1
done
grep -q "listening on" "$tmp/tcpdump.log" || die "tcpdump did not start"
sleep 0.5

echo "traffic:"
in_ns python3 "$tool" drive "$site" "$tmp" "$tmp/expected.json"
sleep 1

stop_pid "$tcpdump_pid" INT
tcpdump_pid=""
stop_pid "$nginx_pid" QUIT
nginx_pid=""
stop_pid "$upload_pid" TERM
upload_pid=""
ip netns delete "$ns"
ns_created=0
sed 's/^/tcpdump: /' "$tmp/tcpdump.log" | grep -v "listening on" || true

install -m 0644 "$tmp/capture.pcap" "$out_pcap"
install -m 0644 "$tmp/expected.json" "$out_expected"
echo "wrote $out_pcap ($(stat -c %s "$out_pcap") bytes) and $out_expected"

if command -v tshark >/dev/null; then
  echo "verification with tshark:"
  python3 "$tool" verify "$out_pcap" "$out_expected" "$tmp/objects"
else
  echo "tshark not found: skipped the verification (apt-get install tshark)"
fi
