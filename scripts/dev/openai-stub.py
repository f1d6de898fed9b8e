#!/usr/bin/env python3
"""A protocol stub of the OpenAI-compatible endpoints `minutes` calls, for smoke tests and
benchmarks of the service itself (queue, crash recovery, uploads) — it does not recognize
speech or write real minutes. Never point a real deployment at it.

  scripts/dev/openai-stub.py [--port 8001] [--asr-delay SECONDS]

POST /v1/audio/transcriptions  -> verbose_json with two segments (after --asr-delay seconds)
POST /v1/chat/completions      -> a meeting_minutes JSON object citing seg_0001
GET  /stats                    -> how many calls of each kind it answered
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MINUTES = {
    "title": "Stub meeting", "date": None, "participants": ["Speaker 1"],
    "summary": "Stub summary.", "key_points": ["stub"],
    "decisions": [{"text": "stub decision", "segment_ids": ["seg_0001"]}],
    "action_items": [{"owner": "Speaker 1", "task": "stub task", "due": None, "segment_ids": ["seg_0001"]}],
    "risks": [], "open_questions": [],
}


class Handler(BaseHTTPRequestHandler):
    asr_delay = 0.0
    calls = {"transcriptions": 0, "chat": 0}

    def do_GET(self):
        if self.path == "/stats":
            self._reply(self.calls)
        else:
            self.send_error(404)

    def _reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:
            pass  # the client (a killed worker) went away

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        if self.path.endswith("/audio/transcriptions"):
            Handler.calls["transcriptions"] += 1
            time.sleep(self.asr_delay)
            self._reply({"text": "hello world", "language": "english", "duration": 10.0, "segments": [
                {"id": 0, "start": 0.0, "end": 4.0, "text": " Hello everyone.", "avg_logprob": -0.1},
                {"id": 1, "start": 4.5, "end": 9.0, "text": " Let us begin.", "avg_logprob": -0.2},
            ]})
        elif self.path.endswith("/chat/completions"):
            Handler.calls["chat"] += 1
            self._reply({"model": "stub", "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(MINUTES)}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--asr-delay", type=float, default=0.0)
    a = p.parse_args()
    Handler.asr_delay = a.asr_delay
    ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
