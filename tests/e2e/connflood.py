#!/usr/bin/env python3
"""A connection flood against a gRPC server, for the hostile-peer test:
opens N connections, each sending only the HTTP/2 preface and SETTINGS,
holds them for SECONDS (or until a connect fails), then closes them all.
Prints how many it opened.

    connflood.py HOST PORT N SECONDS
"""
import socket
import struct
import sys
import time


def main():
    host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + bytes([4, 0]) + struct.pack(">I", 0)
    held = []
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(preface)
            held.append(s)
        except OSError:
            break
    print("opened %d" % len(held), flush=True)
    time.sleep(seconds)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
