#!/usr/bin/env python3
"""A TCP proxy that a test can cut, to stop an S3 server "mid-upload" without losing its data.

    cut_proxy.py TARGET_PORT FLAG_FILE

Listens on a free 127.0.0.1 port (printed on the first stdout line) and forwards every
connection to 127.0.0.1:TARGET_PORT. While FLAG_FILE exists, open connections are closed and new
ones are refused (closed at once): to the client the server is gone. Remove FLAG_FILE and
traffic flows again. Runs until killed.
"""
import asyncio
import os
import sys

TARGET = int(sys.argv[1])
FLAG = sys.argv[2]
live = set()


def cut():
    return os.path.exists(FLAG)


async def pipe(reader, writer):
    try:
        while not cut():
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_r, client_w):
    if cut():
        client_w.transport.abort()
        return
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        client_w.transport.abort()
        return
    conn = (client_w, server_w)
    live.add(conn)
    try:
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
    finally:
        live.discard(conn)


async def watch():
    while True:
        if cut():
            for c, s in list(live):
                c.transport.abort()
                s.transport.abort()
        await asyncio.sleep(0.05)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    asyncio.ensure_future(watch())
    async with server:
        await server.serve_forever()


asyncio.run(main())
