"""A postcodes.io-compatible lookup server on loopback, for tests.

It answers the two endpoints Wardline uses, as postcodes.io documents them
(https://postcodes.io/docs): ``GET /postcodes/:postcode`` (the postcode with or without its
space, any case; 200 ``{"status": 200, "result": {...}}`` or 404 ``{"status": 404, "error":
"Postcode not found"}``) and ``GET /outcodes/:outcode`` (``admin_ward``/``admin_district`` are
lists of names). Anything else (another method, a path it does not know, a malformed
postcode) gets the API's 400/404 answers and is recorded in ``bad_requests`` so a test can
assert the app only sent well-formed requests.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2}$")
_OUTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


class FakePostcodesIO:
    def __init__(self):
        self.postcodes: dict[str, dict] = {}   # "SW1A2AA" -> result
        self.outcodes: dict[str, dict] = {}    # "SE24" -> result
        self.requests: list[str] = []
        self.bad_requests: list[str] = []
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if fake.delay:
                    time.sleep(fake.delay)
                path = urlsplit(self.path).path
                fake.requests.append(path)
                parts = path.strip("/").split("/")
                if len(parts) == 2 and parts[0] == "postcodes":
                    value = unquote(parts[1]).upper()
                    if not _POSTCODE.match(value):
                        fake.bad_requests.append(path)
                        return self._send(404, {"status": 404, "error": "Invalid postcode"})
                    result = fake.postcodes.get(value.replace(" ", ""))
                    if result is None:
                        return self._send(404, {"status": 404, "error": "Postcode not found"})
                    return self._send(200, {"status": 200, "result": result})
                if len(parts) == 2 and parts[0] == "outcodes":
                    value = unquote(parts[1]).upper()
                    if not _OUTCODE.match(value):
                        fake.bad_requests.append(path)
                    result = fake.outcodes.get(value)
                    if result is None:
                        return self._send(404, {"status": 404, "error": "Outcode not found"})
                    return self._send(200, {"status": 200, "result": result})
                fake.bad_requests.append(path)
                return self._send(404, {"status": 404, "error": "Resource not found"})

            def do_POST(self):
                fake.bad_requests.append("POST " + self.path)
                self._send(400, {"status": 400, "error": "Invalid JSON submitted"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutdown() waits for one poll (0.5 s by default).
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def add_postcode(self, postcode: str, *, ward_name: str, ward_code: str, district: str,
                     district_code: str, lat: float, lon: float):
        """Serve ``postcode`` with the fields of postcodes.io's Postcode schema we read."""
        outcode, incode = postcode.split()
        self.postcodes[postcode.replace(" ", "")] = {
            "postcode": postcode, "quality": 1, "outcode": outcode, "incode": incode,
            "country": "England", "region": "London", "longitude": lon, "latitude": lat,
            "admin_district": district, "admin_ward": ward_name,
            "codes": {"admin_district": district_code, "admin_ward": ward_code},
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
