#!/usr/bin/env python3
"""A TCP proxy on loopback whose traffic shares one token bucket: a slow link for the benchmarks.

    throttle-proxy.py LISTEN_PORT TARGET_PORT BYTES_PER_SECOND [BURST_BYTES]

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection to 127.0.0.1:TARGET_PORT. Bytes in both directions,
over all connections together, draw from one bucket that refills at BYTES_PER_SECOND and holds at most BURST_BYTES
(default 64 KiB): a link of that speed, the way a token-bucket shaper makes one. Prints `ready` once listening.
"""

import asyncio
import sys
import time

CHUNK = 16 * 1024


class Bucket:
    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        # One waiter at a time, so that connections share the link instead of racing for each refill.
        async with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= n
            if self.tokens < 0:
                await asyncio.sleep(-self.tokens / self.rate)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bucket: Bucket) -> None:
    try:
        while data := await reader.read(CHUNK):
            await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            writer.close()


async def main() -> None:
    listen, target, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    bucket = Bucket(rate, int(sys.argv[4]) if len(sys.argv) > 4 else 64 * 1024)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w, bucket), pipe(server_r, client_w, bucket))
        for w in (client_w, server_w):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main())
