"""A folder served over HTTP on 127.0.0.1 with byte ranges, as GDAL's /vsicurl reads remote
rasters (the stdlib's handler ignores ``Range``): ``python http_files.py FOLDER LOG`` prints
its port, then serves until terminated, appending ``METHOD PATH STATUS`` to LOG for each
request. Standard library only, so it starts in a moment (``serving`` in conftest.py)."""

from __future__ import annotations

import re
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RANGE = re.compile(r"bytes=(\d+)-(\d*)")  # one range, as GDAL asks


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """A file of the served folder, whole (200) or the byte range ``Range`` asks for (206);
    404 for anything else (a folder is not listed)."""

    def __init__(self, *args, log: Path, **kwargs):
        self.log = log  # before the base class's __init__, which answers the request
        super().__init__(*args, **kwargs)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, with_body: bool) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self._log(404)
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        wanted = RANGE.fullmatch(self.headers.get("Range", ""))
        if wanted:
            start = int(wanted[1])
            end = min(int(wanted[2]), end) if wanted[2] else end
        self._log(206 if wanted else 200)
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if with_body:
            self.wfile.write(data[start : end + 1])

    def _log(self, status: int) -> None:
        with self.log.open("a") as log:
            log.write(f"{self.command} {self.path} {status}\n")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: the request log says what was asked."""


def main(folder: str, log: str) -> None:
    handler = partial(RangeRequestHandler, directory=folder, log=Path(log))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:])
