#!/usr/bin/env python3
"""A relay's session on hsm-sim's control socket (HSM_CTL_RESTRICT), as rbs
opens it, driven by hand: hsm_restrict.py SOCKET SERIAL[,SERIAL] CMD...
sends the restriction (an empty SERIAL list: none; "twice": a second
restriction after the first), then each command, and prints each
command's output lines and result code; "closed" when hsm-sim ends the
session."""
import socket
import struct
import sys

CMD, OUTPUT, RESULT, RESTRICT = 0x20, 0x21, 0x22, 0x2f


def frame(t, payload):
    return b"PD\x01" + bytes([t]) + struct.pack(">I", len(payload)) + payload


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def recv_frame(s):
    h = read_exact(s, 8)
    (n,) = struct.unpack(">I", h[4:8])
    return h[3], read_exact(s, n)


def restriction(serials):
    p = bytes([len(serials)])
    for x in serials:
        p += bytes([len(x)]) + x.encode()
    return p


def main():
    path, serials, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    names = [x for x in serials.split(",") if x and x != "twice"]
    s.sendall(frame(RESTRICT, restriction(names)))
    if "twice" in serials.split(","):
        s.sendall(frame(RESTRICT, restriction(names + ["1"])))
    try:
        for c in cmds:
            s.sendall(frame(CMD, c.encode()))
            while True:
                t, p = recv_frame(s)
                if t == OUTPUT:
                    print(p.decode(errors="replace"))
                elif t == RESULT:
                    print("result 0x%x" % struct.unpack(">I", p[:4]))
                    break
    except (EOFError, ConnectionResetError, BrokenPipeError):
        print("closed")


main()
