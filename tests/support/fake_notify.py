"""A fake GOV.UK Notify API on loopback: a real HTTP server in a thread that checks each
request as Notify's API documentation describes it, and answers as Notify does.

Checked (any failure is answered the way Notify answers, and kept in ``problems``):

* endpoints: ``POST /v2/notifications/sms`` and ``POST /v2/notifications/email``, JSON body;
* the ``Authorization: Bearer <JWT>`` header: HS256 (header ``alg`` HS256, ``typ`` JWT),
  signed with the secret part of the API key, ``iss`` the service id, ``iat`` within 30
  seconds of now (verified with PyJWT);
* the payload: ``phone_number`` (a UK mobile) or ``email_address``, ``template_id`` (a
  UUID), ``personalisation`` (an object of strings), ``reference`` (a string, optional);
  no other keys than the API accepts.

An API key is ``<key name>-<service id>-<secret>`` (two UUIDs at the end): see
:attr:`FakeNotify.api_key`. Answers: 201 with Notify's response body (id, reference,
content, uri, template); 400 ``BadRequestError``/``ValidationError`` and 403 ``AuthError``
in Notify's error shape (``{"status_code", "errors": [{"error", "message"}]}``). Tests
queue other answers with :meth:`FakeNotify.fail_next` (429, 500 ...), and build Notify's
delivery-receipt callback body with :meth:`FakeNotify.receipt`.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UK_MOBILE = re.compile(r"^(?:\+?44|0)7\d{9}$")
SMS_KEYS = {"phone_number", "template_id", "personalisation", "reference", "sms_sender_id"}
EMAIL_KEYS = {"email_address", "template_id", "personalisation", "reference",
              "email_reply_to_id", "one_click_unsubscribe_url"}
IAT_BOUND = 30  # seconds: Notify refuses a token issued more than 30 s away from now


class FakeNotify:
    def __init__(self, key_name: str = "wardline_test"):
        self.service_id = str(uuid.uuid4())
        self.secret = str(uuid.uuid4())
        self.api_key = f"{key_name}-{self.service_id}-{self.secret}"
        self.sms_template = str(uuid.uuid4())
        self.code_template = str(uuid.uuid4())
        self.email_template = str(uuid.uuid4())
        self.received: list[dict] = []  # accepted notifications: {type, payload, claims, id}
        self.problems: list[str] = []  # requests refused (what was wrong)
        self._queued: list[int] = []  # statuses to answer next, instead of 201
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True, name="fake-notify")

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> "FakeNotify":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.problems.clear()
            self._queued.clear()

    # ----------------------------------------------------------------- test helpers
    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses (429, 500, 400 ...)."""
        with self._lock:
            self._queued.extend(statuses)

    def sms(self) -> list[dict]:
        return [r for r in self.received if r["type"] == "sms"]

    def emails(self) -> list[dict]:
        return [r for r in self.received if r["type"] == "email"]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.received) >= n, timeout), \
                f"fake Notify got {len(self.received)} < {n} notifications ({self.problems})"
            return list(self.received)

    def receipt(self, notification: dict, status: str = "delivered") -> dict:
        """The body of Notify's delivery-receipt callback for a notification we accepted
        (all values strings; ``to`` the recipient, ``reference`` the sender's)."""
        payload = notification["payload"]
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        return {"id": notification["id"], "reference": payload.get("reference"),
                "to": payload.get("phone_number") or payload.get("email_address"),
                "status": status, "created_at": now, "completed_at": now, "sent_at": now,
                "notification_type": notification["type"],
                "template_id": payload["template_id"], "template_version": 1}

    # ----------------------------------------------------------------- checking
    def check(self, path: str, headers, body: bytes) -> tuple[int, dict, dict | None]:
        """(status, response body, accepted notification or None) for one request."""
        kind = {"/v2/notifications/sms": "sms", "/v2/notifications/email": "email"}.get(path)
        if kind is None:
            return 404, _error(404, "ResourceNotFound", "Not found"), None
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return 401, _error(401, "AuthError", "Unauthorized: authentication token must be "
                                                 "provided"), None
        token = auth[len("Bearer "):]
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.secret, algorithms=["HS256"],
                                options={"require": ["iss", "iat"], "verify_iat": False})
        except jwt.PyJWTError as exc:
            return 403, _error(403, "AuthError", f"Invalid token: signature ({exc})"), None
        if header.get("alg") != "HS256" or header.get("typ") != "JWT":
            return 403, _error(403, "AuthError", "Invalid token: algorithm used is not HS256"), None
        if claims["iss"] != self.service_id:
            return 403, _error(403, "AuthError", "Invalid token: service not found"), None
        if abs(time.time() - int(claims["iat"])) > IAT_BOUND:
            return 403, _error(403, "AuthError", "Error: Your system clock must be accurate "
                                                 "to within 30 seconds"), None
        if "application/json" not in headers.get("Content-Type", ""):
            return 400, _error(400, "BadRequestError", "Content-Type must be application/json"), None
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, _error(400, "BadRequestError", "Invalid JSON supplied in POST data"), None
        if not isinstance(payload, dict):
            return 400, _error(400, "ValidationError", "JSON is not an object"), None
        allowed = SMS_KEYS if kind == "sms" else EMAIL_KEYS
        extra = set(payload) - allowed
        if extra:
            return 400, _error(400, "ValidationError",
                               f"Additional properties are not allowed ({sorted(extra)})"), None
        template = payload.get("template_id")
        if not isinstance(template, str) or not UUID_RE.match(template):
            return 400, _error(400, "ValidationError", "template_id is not a valid UUID"), None
        personalisation = payload.get("personalisation", {})
        if personalisation is not None and not (
                isinstance(personalisation, dict)
                and all(isinstance(k, str) and isinstance(v, (str, int, float))
                        for k, v in personalisation.items())):
            return 400, _error(400, "ValidationError", "personalisation should be an object"), None
        reference = payload.get("reference")
        if reference is not None and not isinstance(reference, str):
            return 400, _error(400, "ValidationError", "reference is not a string"), None
        if kind == "sms":
            number = payload.get("phone_number")
            if not isinstance(number, str):
                return 400, _error(400, "ValidationError", "phone_number is a required property"), None
            if not UK_MOBILE.match(re.sub(r"[\s()-]", "", number)):
                return 400, _error(400, "ValidationError",
                                   "phone_number Not a UK mobile number"), None
        else:
            address = payload.get("email_address")
            if not isinstance(address, str) or "@" not in address:
                return 400, _error(400, "ValidationError", "email_address Not a valid email address"), None
        notification_id = str(uuid.uuid4())
        values = personalisation or {}
        body_text = "\n".join(str(v) for v in values.values())
        content = {"body": body_text, "from_number": "Wardline"} if kind == "sms" else \
            {"body": str(values.get("body", "")), "subject": str(values.get("subject", "")),
             "from_email": "wardline@notifications.service.gov.uk"}
        response = {"id": notification_id, "reference": reference, "content": content,
                    "uri": f"{self.base_url}/v2/notifications/{notification_id}",
                    "template": {"id": template, "version": 1,
                                 "uri": f"{self.base_url}/services/{self.service_id}/templates/{template}"}}
        return 201, response, {"type": kind, "payload": payload, "claims": claims,
                               "id": notification_id}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, response, accepted = fake.check(self.path, self.headers, body)
                with fake._cond:
                    injected = status == 201 and bool(fake._queued)
                    if injected:
                        status = fake._queued.pop(0)
                        response = _error(status, {429: "RateLimitError", 500: "Exception"}
                                          .get(status, "BadRequestError"),
                                          "Exceeded rate limit for key type LIVE of 3000 "
                                          "requests per 60 seconds" if status == 429 else
                                          "Internal server error" if status >= 500 else
                                          "Can't send to this recipient using a team-only API key")
                        accepted = None
                    if accepted is not None:
                        fake.received.append(accepted)
                    elif status != 201 and not injected:
                        fake.problems.append(f"{status} {self.path}: {response}")
                    fake._cond.notify_all()
                data = json.dumps(response).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def _error(status: int, error: str, message: str) -> dict:
    return {"status_code": status, "errors": [{"error": error, "message": message}]}
