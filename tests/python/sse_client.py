"""Follows a Server-Sent Events stream with httpx-sse and prints one JSON line per
line of news: first {"status": code} (with "body" when it is not 200), then
{"id", "event", "data"} per event, and {"end": reason} when it stops.

usage: sse_client.py URL [--token JWT] [--last-event-id N] [--until TYPE]
                         [--count N] [--timeout SECONDS]
"""

import argparse
import json
import sys

import httpx
from httpx_sse import connect_sse


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--token")
    p.add_argument("--last-event-id")
    p.add_argument("--until", action="append", default=[])
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()
    headers = {}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    if args.last_event_id is not None:
        headers["Last-Event-ID"] = args.last_event_id
    seen = 0
    timeout = httpx.Timeout(10.0, read=args.timeout)
    try:
        with httpx.Client(timeout=timeout) as client:
            with connect_sse(client, "GET", args.url, headers=headers) as source:
                response = source.response
                if response.status_code != 200:
                    response.read()
                    say({"status": response.status_code, "body": response.json()})
                    return
                say({"status": 200, "content_type": response.headers.get("content-type")})
                for sse in source.iter_sse():
                    # A heartbeat comment ends with a blank line; like a browser's
                    # EventSource, a block without data is not an event.
                    if not sse.data:
                        continue
                    say({"id": sse.id, "event": sse.event, "data": json.loads(sse.data)})
                    seen += 1
                    if sse.event in args.until or (args.count and seen >= args.count):
                        say({"end": "done"})
                        return
        say({"end": "closed"})
    except httpx.ReadTimeout:
        say({"end": "timeout"})


if __name__ == "__main__":
    main()
