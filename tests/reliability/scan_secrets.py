#!/usr/bin/env python3
"""Looks for secrets in captured bytes.

  scan_secrets.py SECRETS FILE...

SECRETS has one "name hex" line per secret (the bytes themselves) or
"name text:STRING" (a PIN or password: its ASCII). Each FILE is searched
whole, byte for byte; a pcap file (tcpdump -w) is also searched as the
concatenated TCP payload of each direction of each connection, so a secret
cut across two segments is found too. A secret is looked for as its bytes,
as lower- and upper-case hex, and as base64 (from each of the three
alignments, the full groups that do not depend on neighbours). Prints one
"FOUND name (form) in FILE" line per hit and "secrets_found=N"; exit 1 if N > 0."""
import base64, struct, sys

def forms(v):
    out = [("raw", v)]
    if len(v) >= 4:
        out += [("hex", v.hex().encode()), ("HEX", v.hex().upper().encode())]
    for shift in range(3):
        # the base64 of v preceded by shift unknown bytes: drop the groups touched by them or by what follows
        pre = bytes(shift)
        enc = base64.b64encode(pre + v)
        start = 4 if shift else 0
        full = (len(pre + v) // 3) * 4
        piece = enc[start:full]
        if len(piece) >= 8:
            out.append(("base64/%d" % shift, piece))
    return out

def pcap_streams(data):
    """TCP payloads of a classic pcap, concatenated per (src, sport, dst, dport)."""
    if len(data) < 24:
        return {}
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return {}
    linktype = struct.unpack(e + "I", data[20:24])[0]
    streams, p = {}, 24
    while p + 16 <= len(data):
        incl = struct.unpack(e + "I", data[p + 8:p + 12])[0]
        pkt = data[p + 16:p + 16 + incl]
        p += 16 + incl
        off = {1: 14, 113: 16, 0: 4, 101: 0, 276: 20}.get(linktype)
        if off is None or len(pkt) < off + 20:
            continue
        ip = pkt[off:]
        if ip[0] >> 4 == 4:
            ihl, proto, src, dst, ipl = (ip[0] & 15) * 4, ip[9], ip[12:16], ip[16:20], struct.unpack(">H", ip[2:4])[0]
            ip = ip[:ipl]
        elif ip[0] >> 4 == 6 and len(ip) >= 40:
            ihl, proto, src, dst = 40, ip[6], ip[8:24], ip[24:40]
        else:
            continue
        if proto != 6 or len(ip) < ihl + 20:
            continue
        tcp = ip[ihl:]
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            streams.setdefault((src, sport, dst, dport), []).append(payload)
    return {k: b"".join(v) for k, v in streams.items()}

def main():
    secrets = []
    for line in open(sys.argv[1]):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, val = line.split(None, 1)
        v = val[5:].encode() if val.startswith("text:") else bytes.fromhex(val)
        secrets.append((name, v))
    found = 0
    for path in sys.argv[2:]:
        data = open(path, "rb").read()
        views = [("bytes", data)] + [("tcp stream %d->%d" % (k[1], k[3]), v) for k, v in pcap_streams(data).items()]
        for name, v in secrets:
            hit = None
            for fname, f in forms(v):
                for vname, view in views:
                    if f in view:
                        hit = (fname, vname)
                        break
                if hit:
                    break
            if hit:
                print("FOUND %s (%s, %s) in %s" % (name, hit[0], hit[1], path))
                found += 1
    print("secrets_found=%d" % found)
    return 1 if found else 0

if __name__ == "__main__":
    sys.exit(main())
