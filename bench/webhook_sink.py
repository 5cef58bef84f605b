"""A webhook endpoint for the benchmark: answers every POST 204 at once (HTTP/1.1,
kept alive) and counts them. GET /stats answers {"count", "first", "last"} (monotonic
seconds of the first and last delivery); GET /reset starts the count again.

    python3 bench/webhook_sink.py 18097
"""

import asyncio
import json
import sys
import time

stats = {"count": 0, "first": None, "last": None}


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            if method == "POST":
                now = time.monotonic()
                stats["count"] += 1
                stats["first"] = stats["first"] or now
                stats["last"] = now
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                if path == "/reset":
                    stats.update(count=0, first=None, last=None)
                body = json.dumps(stats).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
