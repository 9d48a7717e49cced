#!/usr/bin/env python3
"""Turns the Wycheproof JSON files in wycheproof/ into line files the C tests
read without a JSON parser. Run from this directory; the output is committed.

Line formats (fields separated by one space, '-' for an empty value):
  ecdh_*.txt      tcId result public private shared
  ecdsa_*.txt     "key" publicKeyDer        (starts a group)
                  tcId result msg sig
  aes_kwp.txt,
  aes_kw.txt      tcId result key msg ct
  hmac_sha512.txt tcId result tagSizeBits key msg tag
result is valid, invalid or acceptable."""
import json

def h(v):
    return v if v else "-"

def load(name):
    with open(f"wycheproof/{name}.json") as f:
        return json.load(f)

def write(out, lines):
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")

for src, dst in [("ecdh_secp521r1_test", "ecdh_secp521r1_der.txt"),
                 ("ecdh_secp521r1_ecpoint_test", "ecdh_secp521r1_point.txt")]:
    lines = []
    for g in load(src)["testGroups"]:
        for t in g["tests"]:
            lines.append(f'{t["tcId"]} {t["result"]} {h(t["public"])} {h(t["private"])} {h(t["shared"])}')
    write(dst, lines)

lines = []
for g in load("ecdsa_secp521r1_sha512_test")["testGroups"]:
    lines.append(f'key {g["publicKeyDer"]}')
    for t in g["tests"]:
        lines.append(f'{t["tcId"]} {t["result"]} {h(t["msg"])} {h(t["sig"])}')
write("ecdsa_secp521r1_sha512.txt", lines)

for src, dst in [("aes_kwp_test", "aes_kwp.txt"), ("aes_wrap_test", "aes_kw.txt")]:
    lines = []
    for g in load(src)["testGroups"]:
        for t in g["tests"]:
            lines.append(f'{t["tcId"]} {t["result"]} {h(t["key"])} {h(t["msg"])} {h(t["ct"])}')
    write(dst, lines)

lines = []
for g in load("hmac_sha512_test")["testGroups"]:
    for t in g["tests"]:
        lines.append(f'{t["tcId"]} {t["result"]} {g["tagSize"]} {h(t["key"])} {h(t["msg"])} {h(t["tag"])}')
write("hmac_sha512.txt", lines)
