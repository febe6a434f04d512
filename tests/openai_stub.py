#!/usr/bin/env python3
"""A tiny OpenAI-compatible chat-completions server for the command-line tests:
answers every POST with a fixed streamed reply (or a plain one when "stream" is
false), and logs each request body as one line to the file named by argv[2].
Usage: openai_stub.py PORT-FILE LOG-FILE   (writes the port it listens on to PORT-FILE)"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = ["The steps are in the passages.", " Final answer:", " Ship it back within 30 days."]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        req = json.loads(body)
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"auth": self.headers.get("Authorization"), "body": req}) + "\n")
        if not req.get("stream"):
            out = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(REPLY)},
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 50, "completion_tokens": 12}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in REPLY:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        self.wfile.write(b'data: {"choices":[],"usage":{"prompt_tokens":50,"completion_tokens":12}}\n\n')
        self.wfile.write(b"data: [DONE]\n\n")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
