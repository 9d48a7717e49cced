#!/usr/bin/env python3
"""A test peer speaking the relay protocol (docs/protocol.md, section 11), or
not: it sends what a test asks and reports what comes back.

  relay_peer.py tcp:HOST:PORT|unix:PATH ACTION...
    hello ROLE PURPOSE AUTH ID [HOST PORT]   send a HELLO
    raw HEX                                 send bytes as they are
    expect TYPE [SECONDS]                   wait for a frame of TYPE (name), print it
    silent SECONDS                          read and drop frames for SECONDS, answer nothing
    closed SECONDS                          expect the peer to close within SECONDS
    flood N                                 send N KAS frames of 60000 bytes, stop when refused
Exit status 0 if every expectation held."""
import socket, struct, sys, time

TYPES = {0x30: "HELLO", 0x31: "WELCOME", 0x32: "PING", 0x33: "PONG", 0x34: "BYE", 0x35: "OPEN",
         0x36: "STATUS", 0x10: "KAS", 0x11: "RECORD"}

def lv8(s):
    b = s.encode()
    return bytes([len(b)]) + b

def frame(t, body):
    return b"PD\x01" + bytes([t]) + struct.pack(">I", len(body)) + body

def connect(addr):
    kind, rest = addr.split(":", 1)
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(rest)
    else:
        host, port = rest.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    return s

class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def frame(self, deadline):
        while True:
            if len(self.buf) >= 8:
                n = struct.unpack(">I", self.buf[4:8])[0]
                if len(self.buf) >= 8 + n:
                    t, body = self.buf[3], self.buf[8:8 + n]
                    self.buf = self.buf[8 + n:]
                    return t, body
            left = deadline - time.monotonic()
            if left <= 0:
                return None, b"timeout"
            self.s.settimeout(left)
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                return None, b"timeout"
            except ConnectionError:
                d = b""
            if not d:
                return None, b"closed"
            self.buf += d

def main():
    s = connect(sys.argv[1])
    r = Reader(s)
    args = sys.argv[2:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "hello":
            role, purpose, auth, ident = (int(args[i + 1]), int(args[i + 2]), int(args[i + 3]), args[i + 4])
            host, port, i = "", 0, i + 5
            if i + 1 < len(args) and args[i] not in ("hello", "raw", "expect", "silent", "closed", "flood"):
                host, port, i = args[i], int(args[i + 1]), i + 2
            body = bytes([role, purpose, auth, 0]) + struct.pack(">HI", port, 0)
            body += lv8(ident) + lv8("relay_peer") + lv8(host) + lv8("")
            s.sendall(frame(0x30, body))
        elif a == "raw":
            s.sendall(bytes.fromhex(args[i + 1]))
            i += 2
        elif a == "expect":
            want, secs = args[i + 1], float(args[i + 2]) if i + 2 < len(args) and args[i + 2][0].isdigit() else 5
            i += 3 if i + 2 < len(args) and args[i + 2][0].isdigit() else 2
            deadline = time.monotonic() + secs
            while True:
                t, body = r.frame(deadline)
                if t is None:
                    print("no %s: %s" % (want, body.decode()))
                    return 1
                name = TYPES.get(t, hex(t))
                if name == want:
                    code = struct.unpack(">I", body[6:10])[0] if len(body) >= 10 else 0
                    print("%s code=0x%08x" % (name, code))
                    break
                if name == "PING":
                    s.sendall(frame(0x33, bytes(10) + b"\0\0\0\0"))
        elif a == "silent":
            deadline = time.monotonic() + float(args[i + 1])
            i += 2
            while True:
                t, body = r.frame(deadline)
                if t is None and body == b"closed":
                    print("closed while silent")
                    return 0
                if t is None:
                    break
        elif a == "flood":
            n, i = int(args[i + 1]), i + 2
            try:
                for _ in range(n):
                    s.sendall(frame(0x10, bytes(60000)))
            except OSError:
                pass
        elif a == "closed":
            deadline = time.monotonic() + float(args[i + 1])
            i += 2
            while True:
                t, body = r.frame(deadline)
                if t is None:
                    if body == b"closed":
                        print("closed")
                        break
                    print("still open")
                    return 1
        else:
            print("unknown action " + a)
            return 2
    return 0

if __name__ == "__main__":
    sys.exit(main())
