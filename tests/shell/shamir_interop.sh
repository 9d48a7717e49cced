#!/bin/bash
# Shares from `pedtool shamir split` combine in an independent implementation
# (Python, exp/log tables, no code shared with ours) and the other way round:
# the field (x^8+x^4+x^3+x+1) and the evaluation points (x = 1..N) are the
# whole interface.
. "$(dirname "$0")/../lib.sh"
command -v python3 >/dev/null || skip "python3 not installed (needed for the independent implementation)"

cat >"$T/gf.py" <<'PY'
import random, sys
exp = [0] * 512; log = [0] * 256; x = 1
for i in range(255):
    exp[i] = x; log[x] = i
    x ^= ((x << 1) ^ (0x11b if x & 0x80 else 0))
for i in range(255, 512): exp[i] = exp[i - 255]
def mul(a, b): return 0 if a == 0 or b == 0 else exp[log[a] + log[b]]
def inv(a): return exp[255 - log[a]]
def combine(shares):
    xs = [i for i, _ in shares]; out = []
    for j in range(len(shares[0][1])):
        s = 0
        for i, (xi, yi) in enumerate(shares):
            num = den = 1
            for k, xk in enumerate(xs):
                if k != i: num = mul(num, xk); den = mul(den, xk ^ xi)
            s ^= mul(yi[j], mul(num, inv(den)))
        out.append(s)
    return bytes(out)
def split(secret, m, n):
    polys = [[b] + [random.randrange(256) for _ in range(m - 1)] for b in secret]
    res = []
    for i in range(1, n + 1):
        ys = []
        for p in polys:
            y = 0; xp = 1
            for c in p: y ^= mul(c, xp); xp = mul(xp, i)
            ys.append(y)
        res.append((i, bytes(ys)))
    return res
if sys.argv[1] == "combine":
    print(combine([(int(a), bytes.fromhex(b)) for a, b in (s.split(":") for s in sys.argv[2:])]).hex())
else:
    m, n = int(sys.argv[2]), int(sys.argv[3])
    for i, y in split(bytes.fromhex(sys.argv[4]), m, n): print(f"{i}:{y.hex()}")
PY

for mn in "1 1" "2 3" "3 5" "5 5" "7 16" "16 16"; do
	set -- $mn; m=$1 n=$2
	secret=$(openssl rand -hex 32)
	mapfile -t shares < <("$BIN/pedtool" shamir split -m "$m" -n "$n" -secret "$secret")
	[ ${#shares[@]} -eq "$n" ] || fail "pedtool printed ${#shares[@]} shares, expected $n"
	# a random subset of M shares, in random order
	mapfile -t pick < <(printf '%s\n' "${shares[@]}" | shuf -n "$m")
	got=$(python3 "$T/gf.py" combine "${pick[@]}")
	expect_eq "$got" "$secret" "python combine of pedtool $m-of-$n shares"
	mapfile -t pyshares < <(python3 "$T/gf.py" split "$m" "$n" "$secret")
	mapfile -t pick < <(printf '%s\n' "${pyshares[@]}" | shuf -n "$m")
	got=$("$BIN/pedtool" shamir combine "${pick[@]}")
	expect_eq "$got" "$secret" "pedtool combine of python $m-of-$n shares"
	note "$m of $n ok both ways"
done

note "errors"
expect_exit 2 "$BIN/pedtool" shamir split -m 3 -n 2 -secret 00
expect_contains "$OUT" "must not exceed"
expect_exit 2 "$BIN/pedtool" shamir split -m 17 -n 2 -secret 00
expect_contains "$OUT" "out of range (1-16)"
expect_exit 1 "$BIN/pedtool" shamir combine 1:00ff 1:00ff
expect_contains "$OUT" "same split was presented twice"
expect_exit 2 "$BIN/pedtool" shamir combine 0:00ff
echo "shamir interop ok"
