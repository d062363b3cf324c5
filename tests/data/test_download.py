"""download.fetch on local files, file:// URLs and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from eurosat_kedro.data import download
from eurosat_kedro.ports import free_port


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.zip"
    path.write_bytes(bytes(range(256)) * 4000)  # ~1 MB
    return path


def test_fetch_local_path_and_file_url_give_the_same_bytes(source: Path, tmp_path: Path):
    by_path = download.fetch(str(source), tmp_path / "a.zip", _sha(source.read_bytes()))
    by_url = download.fetch(source.as_uri(), tmp_path / "b.zip")
    assert by_path.read_bytes() == by_url.read_bytes() == source.read_bytes()
    assert not (tmp_path / "a.zip.part").exists()


def test_present_verified_file_is_not_fetched_again(source: Path, tmp_path: Path):
    dest = tmp_path / "a.zip"
    download.fetch(str(source), dest)
    mtime = dest.stat().st_mtime_ns
    source.unlink()  # a second fetch would now fail
    download.fetch(str(source), dest)
    assert dest.stat().st_mtime_ns == mtime


def test_wrong_checksum_is_refused_and_leaves_nothing(source: Path, tmp_path: Path):
    dest = tmp_path / "a.zip"
    with pytest.raises(download.ChecksumError, match="expected 0{64}.*data.archive_sha256"):
        download.fetch(str(source), dest, "0" * 64)
    assert not dest.exists() and not dest.with_name("a.zip.part").exists()


def test_missing_local_file_says_what_to_do(tmp_path: Path):
    with pytest.raises(download.DownloadError, match="no such file.*--env sample"):
        download.fetch(str(tmp_path / "nope.zip"), tmp_path / "a.zip", retries=1)


def test_unreachable_url_says_what_to_do(tmp_path: Path):
    port = free_port()  # nobody listens there
    with pytest.raises(download.DownloadError, match="after 2 attempts.*data.archive_url"):
        download.fetch(
            f"http://127.0.0.1:{port}/EuroSAT_RGB.zip", tmp_path / "a.zip", retries=2, backoff=0
        )


def test_unsupported_scheme_is_refused(tmp_path: Path):
    with pytest.raises(download.DownloadError, match="Unsupported URL scheme 'ftp'"):
        download.fetch("ftp://example.org/a.zip", tmp_path / "a.zip")


class _FlakyRangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``payload`` with Range support; the first response stops half way."""

    payload = b""
    requests_seen: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        self.requests_seen.append(self.headers.get("Range", ""))
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}"
            )
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if len(self.requests_seen) == 1:
            self.wfile.write(body[: len(body) // 2])  # then drop the connection
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_download_resumes_after_a_dropped_connection(tmp_path: Path):
    payload = bytes(range(256)) * 8000
    _FlakyRangeHandler.payload = payload
    _FlakyRangeHandler.requests_seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyRangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/EuroSAT_RGB.zip"
        dest = download.fetch(url, tmp_path / "a.zip", _sha(payload), retries=3, backoff=0)
    finally:
        server.shutdown()
        server.server_close()
    assert dest.read_bytes() == payload
    assert _FlakyRangeHandler.requests_seen[0] == ""
    resumed_at = int(_FlakyRangeHandler.requests_seen[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(payload) // 2  # resumed, not started again
