#!/usr/bin/env python3
"""Front for fake-gcs-server that adds the two XML API requests its PyPI release lacks and
object_store's GCS client sends: an upload (`PUT /BUCKET/OBJECT` with the bytes) and a copy
(`PUT /BUCKET/OBJECT` with `x-goog-copy-source: BUCKET/SOURCE`). Each becomes the emulator's
own JSON API call (`uploadType=media` upload, `copyTo`); every other request (XML reads,
listings, deletes, the JSON API) is passed through unchanged. Storage is the emulator's.

    gcs_xml_shim.py UPSTREAM_URL PORT   serves on 127.0.0.1:PORT until killed
                                        (scripts/emulator.sh starts and stops it)

Real GCS takes both requests; only the emulator lacks them. Test harness only.
"""
import http.client
import http.server
import json
import sys
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])


def upstream(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def passthrough(self):
        body = self.body()
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        r, data = upstream(self.command, self.path, body or None, headers)
        self.reply(r.status, r.getheaders(), data)

    def object_reply(self, r, data):
        if r.status >= 300:
            return self.reply(r.status, r.getheaders(), data)
        obj = json.loads(data)
        self.reply(
            200,
            [("ETag", '"%s"' % obj["etag"]), ("x-goog-generation", str(obj["generation"]))],
            b"",
        )

    def do_PUT(self):
        split = urllib.parse.urlsplit(self.path)
        parts = split.path.lstrip("/").split("/", 1)
        if split.query or len(parts) != 2 or parts[0] in ("storage", "upload", "download"):
            return self.passthrough()
        bucket, name = parts[0], urllib.parse.unquote(parts[1])
        quote = lambda s: urllib.parse.quote(s, safe="")
        source = self.headers.get("x-goog-copy-source")
        body = self.body()
        if source is None:
            q = urllib.parse.urlencode({"uploadType": "media", "name": name})
            r, data = upstream("POST", f"/upload/storage/v1/b/{bucket}/o?{q}", body,
                               {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")})
            return self.object_reply(r, data)
        src_bucket, src = source.split("/", 1)
        src = urllib.parse.unquote(src)
        if self.headers.get("x-goog-if-generation-match") == "0":
            r, _ = upstream("GET", f"/storage/v1/b/{bucket}/o/{quote(name)}")
            if r.status == 200:
                return self.reply(412, [], b"<Error><Code>PreconditionFailed</Code></Error>")
        r, data = upstream(
            "POST", f"/storage/v1/b/{src_bucket}/o/{quote(src)}/copyTo/b/{bucket}/o/{quote(name)}", b""
        )
        self.object_reply(r, data)

    do_GET = do_HEAD = do_POST = do_DELETE = passthrough


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
server.serve_forever()
