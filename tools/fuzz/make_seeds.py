#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/NAME/seed-* in each target's
package) from the traces in traces/, the kernel-log test data and a few
hand-made ioctl calls. Needs `bazel build //tests/cli:tamper_trace` (for
uncompressed copies of traces). ./lab fuzz adds what the fuzzers find
beside the seeds (crash-*, kept as regression inputs).
"""
import os
import struct
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def put(pkg, target, name, data):
    d = os.path.join(ROOT, pkg, "fuzz", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def frames(trace):
    """The preamble + header frame, the header's payload, and the chunk frames."""
    at = 16
    out = []
    while at < len(trace):
        size = struct.unpack_from("<I", trace, at + 4)[0]
        out.append(trace[at:at + 16 + size])
        at += 16 + size
    return trace[:16] + out[0], out[0][16:], out[1:]


def ioctl(request, arg, mem=b"", file=0):
    arg = arg + b"\0" * (-len(arg) % 4)
    return bytes([file]) + struct.pack("<I", request) + bytes([len(arg) // 4]) + arg + struct.pack("<H", len(mem)) + mem


def uncompressed(path):
    """The trace with its chunks stored raw (tests/cli:tamper_trace, built)."""
    tool = os.path.join(ROOT, "bazel-bin/tests/cli/tamper_trace")
    with tempfile.NamedTemporaryFile() as out:
        subprocess.run([tool, os.path.join(ROOT, path), out.name, "--uncompressed"], check=True)
        return out.read()


def main():
    for t in ["heap", "fuzz", "golden-all-kinds", "compat-v1-before-submitter-fields"]:
        put("engine/trace", "reader_fuzz", t, read("traces/%s.fltrace" % t))
    put("engine/trace", "reader_fuzz", "heap-raw", uncompressed("traces/heap.fltrace"))
    for t in ["heap", "fuzz", "game"]:
        trace = read("traces/%s.fltrace" % t)
        put("engine/replay", "replay_fuzz", t, trace)
        put("engine/replay", "replay_fuzz", t + "-raw", uncompressed("traces/%s.fltrace" % t))
        head, header, chunks = frames(trace)
        put("engine/replay", "config_fuzz", t, header)
        put("server/store", "ingest_fuzz", t, head + chunks[0])
    put("engine/replay", "config_fuzz", "what-if", b"policy=pool:64\nbudget=64M\nthp=within_size\ngranularity=2M")
    for f in ["dmesg.txt", "kmsg.txt", "trace_pipe.txt"]:
        put("lib/collect", "kernel_log_fuzz", f, read("lib/collect/testdata/" + f))
    user = 0x10000000
    vm_create = ioctl(0xC0106441, struct.pack("<IIQ", 0, 0, 0))
    bo_create = ioctl(0xC0186445, struct.pack("<QIIII", 1 << 20, 0, 0, 0, 0))
    aof = ioctl(0xC0186445, struct.pack("<QIIII", 4 << 20, 2, 0, 0, 64 << 10))
    query = ioctl(0xC0106440, struct.pack("<IIQ", 0, 104, user))
    syncobj = ioctl(0xC00864BF, struct.pack("<II", 0, 0))
    wait = ioctl(0xC02864C3, struct.pack("<QqIIIIQ", user, 0, 1, 0, 0, 0, 0), struct.pack("<I", 1))
    put("engine/dev", "ioctl_fuzz", "vm-bo", vm_create + bo_create + aof)
    put("engine/dev", "ioctl_fuzz", "query", query)
    put("engine/dev", "ioctl_fuzz", "syncobj-wait", syncobj + wait)


if __name__ == "__main__":
    main()
