#!/usr/bin/env python3
"""Prints the secrets held in an iKey store, one "name hex" line each, for the
reliability tests to look for on the wire (docs/ikey-format.md, docs/pinmask.md).

  ikey_secrets.py STORE [SERIAL=PIN ...]

Per key holding a secret: its share as stored, the share unmasked when the
key has a PIN and the PIN is given (what the PED sends to the HSM inside the
channel), and, on an orange key made by ped vector init, the RPV static
private key."""
import hashlib, hmac, os, struct, sys

def hkdf_sha512(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha512).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha512).digest()
        out += t
        i += 1
    return out[:length]

TYPES = {1: "so", 2: "domain", 3: "rpv", 4: "user", 5: "audit"}

def main():
    store, pins = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
    for name in sorted(os.listdir(store)):
        if not name.endswith(".ikey"):
            continue
        d = open(os.path.join(store, name), "rb").read()
        serial = name[:-5]
        if d[:4] != b"OPIK" or d[4] not in (1, 2) or d[5] != 1:
            continue
        version = d[4]
        p = 16
        (ll,) = struct.unpack(">H", d[p:p + 2]); p += 2 + ll
        ktype, keyset, m, n, index, pinset = d[p], d[p + 1:p + 17], d[p + 17], d[p + 18], d[p + 19], d[p + 20]
        p += 21
        kdf, log2n, r, par = 1, 0, 0, 0  # format 1: HKDF
        if pinset and version == 2:
            kdf, log2n, r, par = d[p], d[p + 1], d[p + 2], d[p + 3]
            p += 4
        p += 8
        (sl,) = struct.unpack(">H", d[p:p + 2]); share = d[p + 2:p + 2 + sl]; p += 2 + sl
        t = TYPES.get(ktype, str(ktype))
        print("%s-%s-share %s" % (t, serial, share.hex()))
        if pinset and serial in pins:
            pin = pins[serial].encode()
            if kdf == 2:
                mask = hashlib.scrypt(pin, salt=b"OPENPED-PIN-MASK-v2" + keyset + bytes([index]), n=1 << log2n,
                                      r=r, p=par, maxmem=128 * r * ((1 << log2n) + 2 + par) + (1 << 20), dklen=sl)
            else:
                mask = hkdf_sha512(pin, keyset + bytes([index]), b"OPENPED-PIN-MASK-v1", sl)
            print("%s-%s-unmasked %s" % (t, serial, bytes(a ^ b for a, b in zip(share, mask)).hex()))
        if d[p] == 1:
            print("%s-%s-rpv-static-key %s" % (t, serial, d[p + 1:p + 67].hex()))

if __name__ == "__main__":
    main()
