"""A fast HTTP/1.1 sink for the provider benchmark: answers every provider's send call.

Runs in its own process (``python -m bench.http_sink PORT_FILE``) so it never shares a
GIL with the client being measured. keep-alive, Content-Length bodies only (what httpx
sends), one canned success answer per provider path. It reads and counts every body
byte but checks nothing: correctness is the end-to-end tests' job, speed is this one's.
"""

from __future__ import annotations

import asyncio
import sys

_ANSWERS: list[tuple[bytes, bytes]] = [
    # (path suffix, full response)
    (
        b"/email",
        b'{"To":"a@example.com","SubmittedAt":"2026-12-02T09:00:00Z",'
        b'"MessageID":"b7bc2f4a-e38e-4336-af7d-e6c392c2f817","ErrorCode":0,"Message":"OK"}',
    ),
    (b"/emails", b'{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}'),
    (b"/messages", b'{"id":"<20260202.1@mg.example.com>","message":"Queued. Thank you."}'),
    (b"/outbound-emails", b'{"MessageId":"0100017f-0000-0000-0000-000000000000"}'),
]


def _response_for(path: bytes) -> bytes:
    path = path.split(b"?", 1)[0]
    if path.endswith(b"/mail/send"):
        return b"HTTP/1.1 202 Accepted\r\nX-Message-Id: sg-bench-1\r\nContent-Length: 0\r\n\r\n"
    for suffix, body in _ANSWERS:
        if path.endswith(suffix):
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class _Sink(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.need = -1  # body bytes still to read; -1: reading the head
        self.answer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end]
                self.buffer = self.buffer[end + 4 :]
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1]
                self.need = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        self.need = int(value)
                self.answer = _response_for(path)
            if len(self.buffer) < self.need:
                return
            self.buffer = self.buffer[self.need :]
            self.need = -1
            self.transport.write(self.answer)


async def _main(port_file: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Sink, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    with open(port_file, "w") as f:
        f.write(str(port))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
