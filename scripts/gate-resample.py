#!/usr/bin/env python3
"""How many worker processes the gate needs on this machine (docs/gate.md,
"Choosing the process count").

    scripts/gate-resample.py [-b NORMBENCH] [--trials N] [--counts 6,12,16]
                             DIR [DIR ...]

Reads the A/A files of scripts/gate-measure.sh (DIR/aa-*.h5, A/B mode), takes
each cell's per-process levels (the lower quartile of the process's samples,
as `normbench compare` does), divides each file's levels by that file's median
level of the cell (an A/B file's two sides share its drift), and pools them.
Then, per process count n and per cell, it draws n base and n new levels with
replacement, multiplies the new ones by 1.10 (and 1.05, and 1.00 for the false
alarms) and applies the rank interval of `compare` (Hodges-Lehmann, exact
Mann-Whitney order, alpha 0.01, min effect 5%) and, for comparison, Welch's
t interval on the logs. Prints the share of draws that are REGRESSED.
Seeded; standard library only."""
import argparse
import collections
import csv
import glob
import math
import os
import random
import subprocess
import sys

ALPHA = 0.01
UP = 1.05


def quantile(v, q):
    """type 7, v sorted"""
    h = (len(v) - 1) * q
    lo = math.floor(h)
    return v[lo] + (h - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def load_levels(nb, h5):
    out = h5[:-3] + '-csv'
    if not os.path.exists(os.path.join(out, 'samples.csv')):
        subprocess.run([nb, 'export', h5, '--csv', '--out', out, '--force'],
                       stdout=subprocess.DEVNULL, check=True)
    cells = list(csv.DictReader(open(os.path.join(out, 'cells.csv'))))
    samples = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in csv.DictReader(open(os.path.join(out, 'samples.csv'))):
        samples[int(r['cell'])][int(r['process'])].append(float(r['seconds']))
    levels = collections.defaultdict(list)
    for i, c in enumerate(cells):
        key = (c['impl'], c['rows'], c['d'], c['threads'])
        levels[key] += [quantile(sorted(v), 0.25) for v in samples[i].values()]
    return levels


def u_order(n, m, cache={}):
    """largest k with P(U <= k-1) <= ALPHA (exact null of Mann-Whitney U)"""
    if (n, m) in cache:
        return cache[(n, m)]
    f = [[0] * (n * m + 1) for _ in range(n + 1)]
    f[0][0] = 1
    for k in range(1, n + m + 1):
        for j in range(min(k, n), 0, -1):
            add = k - j
            for s in range(n * m, add - 1, -1):
                f[j][s] += f[j - 1][s - add]
    total, cum, k = sum(f[n]), 0, 0
    for s in range(n * m + 1):
        cum += f[n][s]
        if cum / total > ALPHA:
            break
        k = s + 1
    cache[(n, m)] = k
    return k


def rank_low(b, c):
    d = sorted(math.log(y) - math.log(x) for x in b for y in c)
    k = u_order(len(b), len(c))
    return math.exp(d[k - 1]) if k else 0.0


def t_quantile(p, df):
    # bisection on the t CDF through the regularized incomplete beta
    def ibeta(a, b, x):
        if x <= 0:
            return 0.0
        if x >= 1:
            return 1.0
        lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + \
            b * math.log(1 - x)
        if x > (a + 1) / (a + b + 2):
            return 1 - ibeta(b, a, 1 - x)
        c, d, h = 1.0, 1 - (a + b) * x / (a + 1), 0.0
        d = 1 / d
        h = d
        for m in range(1, 300):
            for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                        -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
                d = 1 / (1 + num * d)
                c = 1 + num / c
                h *= d * c
            if abs(d * c - 1) < 1e-12:
                break
        return math.exp(lbt) * h / a

    def cdf(t):
        tail = 0.5 * ibeta(df / 2, 0.5, df / (df + t * t))
        return 1 - tail if t > 0 else tail
    lo, hi = 0.0, 100.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def welch_low(b, c):
    lb, lc = [math.log(x) for x in b], [math.log(x) for x in c]
    mb, mc = sum(lb) / len(lb), sum(lc) / len(lc)
    vb = sum((x - mb) ** 2 for x in lb) / (len(lb) - 1) / len(lb)
    vc = sum((x - mc) ** 2 for x in lc) / (len(lc) - 1) / len(lc)
    se2 = vb + vc
    if se2 <= 0:
        return math.exp(mc - mb)
    df = se2 * se2 / (vb * vb / (len(lb) - 1) + vc * vc / (len(lc) - 1))
    return math.exp(mc - mb - t_quantile(1 - ALPHA, df) * math.sqrt(se2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('dirs', nargs='+')
    ap.add_argument('-b', default='build/normbench')
    ap.add_argument('--trials', type=int, default=300)
    ap.add_argument('--counts', default='6,10,12,16,20,24')
    a = ap.parse_args()
    pools = collections.defaultdict(list)
    files = [f for d in a.dirs for f in sorted(glob.glob(os.path.join(d, 'aa-*.h5')))]
    if not files:
        sys.exit('gate-resample: no aa-*.h5 in ' + ' '.join(a.dirs))
    for f in files:
        for key, lv in load_levels(a.b, f).items():
            m = quantile(sorted(lv), 0.5)
            pools[key] += [x / m for x in lv]
    print(f'{len(files)} A/A files, {len(pools)} cells, '
          f'{min(len(p) for p in pools.values())} process levels per cell at least')
    rng = random.Random(1)
    for n in (int(x) for x in a.counts.split(',')):
        for name, low in (('rank', rank_low), ('welch', welch_low)):
            hits = {1.00: 0, 1.05: 0, 1.10: 0}
            draws = 0
            for _ in range(a.trials):
                for pool in pools.values():
                    b = [rng.choice(pool) for _ in range(n)]
                    c = [rng.choice(pool) for _ in range(n)]
                    draws += 1
                    for f in hits:
                        hits[f] += low(b, [x * f for x in c]) > UP
            print(f'{n:3d} processes a side, {name:5s}: REGRESSED in '
                  f'{100 * hits[1.00] / draws:5.2f}% of A/A draws, '
                  f'{100 * hits[1.05] / draws:5.1f}% at 5%, '
                  f'{100 * hits[1.10] / draws:5.1f}% at 10% (per cell)')


main()
