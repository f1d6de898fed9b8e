#!/usr/bin/env python3
"""Diarization error rate (DER) of hypothesis RTTM against reference RTTM.

usage: der.py -r REF.rttm [-r REF2.rttm ...] -s HYP.rttm [-s ...] [--collar 0.25] [--tsv]
       der.py --self-test

DER = (missed speech + false alarm + speaker confusion) / scored reference speech, per file id
and pooled over all files (sum of errors / sum of reference speech), as md-eval and dscore define
it:

- No-score collar: `--collar` seconds (default 0.25) on each side of every reference segment
  boundary are removed from scoring, for both reference and hypothesis.
- Overlap is scored: where k reference and m hypothesis speakers are active, missed = max(0, k-m),
  false alarm = max(0, m-k), confusion = min(k, m) - correctly mapped speakers. (The synthetic
  meetings have no overlap, so it does not matter there.)
- Hypothesis speakers are mapped one-to-one to reference speakers so that the matched time is
  largest (which minimises DER); speakers left over on either side stay unmapped. Exact search
  by dynamic programming over subsets of the smaller speaker set.
- The scored span is the whole timeline: hypothesis speech before, between or after reference
  segments is false alarm (outside the collars). Only file ids present in the reference are
  scored; a file with no hypothesis lines is all missed.

Output: a table with the per-file rates in percent of scored reference speech, or with `--tsv`
one tab-separated line per file and a TOTAL line:
file scored_s miss_s fa_s conf_s der miss fa conf ref_speakers hyp_speakers (rates as fractions).
"""
import argparse
import sys
from collections import Counter, defaultdict

TICKS = 10_000  # times are handled as integer 0.1 ms ticks so boundaries compare exactly


def to_ticks(seconds):
    return int(round(float(seconds) * TICKS))


def read_rttm(paths):
    """{file id: [(start tick, end tick, speaker)]} from SPEAKER lines."""
    files = defaultdict(list)
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
                    continue
                if len(fields) < 8:
                    raise ValueError(f"{path}:{n}: an RTTM SPEAKER line needs at least 8 fields")
                start, dur = to_ticks(fields[3]), to_ticks(fields[4])
                if dur > 0:
                    files[fields[1]].append((start, start + dur, fields[7]))
    return files


def best_mapping(overlap, refs, hyps):
    """One-to-one {ref: hyp} maximising the summed overlap[ref][hyp]; returns (total, mapping)."""
    swap = len(hyps) < len(refs)
    small, large = (hyps, refs) if swap else (refs, hyps)

    def weight(s, l):
        return overlap[l][s] if swap else overlap[s][l]

    if len(small) > 20:
        raise ValueError(f"too many speakers to map exactly ({len(small)})")
    # best[mask] = (matched time, pairs) using the larger-side speakers seen so far and the
    # smaller-side speakers in mask.
    best = {0: (0, ())}
    for l in large:
        nxt = dict(best)  # l stays unmapped
        for mask, (value, pairs) in best.items():
            for i, s in enumerate(small):
                if mask & (1 << i):
                    continue
                w = weight(s, l)
                if w <= 0:
                    continue
                key = mask | (1 << i)
                cand = (value + w, pairs + ((s, l),))
                if key not in nxt or cand[0] > nxt[key][0]:
                    nxt[key] = cand
        best = nxt
    value, pairs = max(best.values(), key=lambda v: v[0])
    mapping = {(l if swap else s): (s if swap else l) for s, l in pairs}
    return value, mapping


def merge(intervals):
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def score_file(ref, hyp, collar_s):
    """Scored reference, miss, false alarm and confusion (seconds) plus speaker counts."""
    c = to_ticks(collar_s)
    no_score = merge([(t - c, t + c) for s, e, _ in ref for t in (s, e)]) if c > 0 else []
    events = defaultdict(list)  # tick -> [(kind, speaker, +1/-1)]
    for s, e, spk in ref:
        events[s].append(("ref", spk, 1))
        events[e].append(("ref", spk, -1))
    for s, e, spk in hyp:
        events[s].append(("hyp", spk, 1))
        events[e].append(("hyp", spk, -1))
    for a, b in no_score:
        events[a].append(("nsz", None, 1))
        events[b].append(("nsz", None, -1))

    active = {"ref": Counter(), "hyp": Counter()}
    in_nsz = 0
    total = miss = fa = paired = 0
    overlap = defaultdict(Counter)
    ticks = sorted(events)
    for i, t in enumerate(ticks):
        for kind, spk, d in events[t]:
            if kind == "nsz":
                in_nsz += d
            else:
                active[kind][spk] += d
        if i + 1 == len(ticks) or in_nsz > 0:
            continue
        dur = ticks[i + 1] - t
        r = [s for s, n in active["ref"].items() if n > 0]
        h = [s for s, n in active["hyp"].items() if n > 0]
        total += dur * len(r)
        miss += dur * max(0, len(r) - len(h))
        fa += dur * max(0, len(h) - len(r))
        paired += dur * min(len(r), len(h))
        for x in r:
            for y in h:
                overlap[x][y] += dur

    refs = sorted({spk for _, _, spk in ref})
    hyps = sorted({spk for _, _, spk in hyp})
    matched, mapping = best_mapping(overlap, refs, hyps)
    conf = paired - matched
    return {
        "scored": total / TICKS,
        "miss": miss / TICKS,
        "fa": fa / TICKS,
        "conf": conf / TICKS,
        "ref_speakers": len(refs),
        "hyp_speakers": len(hyps),
        "mapping": mapping,
    }


def rate(part, scored):
    return part / scored if scored > 0 else 0.0


def score(ref_files, hyp_files, collar):
    """[(file id, result)] in file-id order, then ("TOTAL", pooled result)."""
    rows = []
    for fid in sorted(ref_files):
        rows.append((fid, score_file(ref_files[fid], hyp_files.get(fid, []), collar)))
    pooled = {k: sum(r[k] for _, r in rows) for k in ("scored", "miss", "fa", "conf")}
    pooled["ref_speakers"] = pooled["hyp_speakers"] = ""
    rows.append(("TOTAL", pooled))
    for _, r in rows:
        r["der"] = rate(r["miss"] + r["fa"] + r["conf"], r["scored"])
    return rows


def print_table(rows, tsv, out=sys.stdout):
    if tsv:
        for fid, r in rows:
            s = r["scored"]
            print("\t".join([
                fid, f"{s:.3f}", f"{r['miss']:.3f}", f"{r['fa']:.3f}", f"{r['conf']:.3f}",
                f"{r['der']:.4f}", f"{rate(r['miss'], s):.4f}", f"{rate(r['fa'], s):.4f}",
                f"{rate(r['conf'], s):.4f}", str(r["ref_speakers"]), str(r["hyp_speakers"]),
            ]), file=out)
        return
    width = max(len(fid) for fid, _ in rows)
    print(f"{'file':<{width}}  {'scored s':>8}  {'DER %':>6}  {'miss %':>6}  {'FA %':>6}  "
          f"{'conf %':>6}  {'ref spk':>7}  {'hyp spk':>7}", file=out)
    for fid, r in rows:
        s = r["scored"]
        print(f"{fid:<{width}}  {s:8.2f}  {100 * r['der']:6.2f}  {100 * rate(r['miss'], s):6.2f}  "
              f"{100 * rate(r['fa'], s):6.2f}  {100 * rate(r['conf'], s):6.2f}  "
              f"{r['ref_speakers']:>7}  {r['hyp_speakers']:>7}", file=out)


def self_test():
    """Hand-computed cases; returns the number of failures."""

    def rttm(segments):
        return {"m": [(to_ticks(s), to_ticks(e), spk) for s, e, spk in segments]}

    def check(name, ref, hyp, want, collar=0.25):
        got = score(rttm(ref), rttm(hyp), collar)[0][1]
        bad = [f"{k}: got {got[k]!r}, want {v!r}" for k, v in want.items()
               if (abs(got[k] - v) > 1e-9 if isinstance(v, float) else got[k] != v)]
        print(f"{'ok  ' if not bad else 'FAIL'} {name}" + ("" if not bad else ": " + "; ".join(bad)))
        return len(bad) > 0

    aba = [(0, 10, "A"), (10, 20, "B"), (20, 30, "A")]
    cases = [
        # Labels differ but the mapping finds x=A, y=B. Collars at 0, 10, 20, 30 leave
        # 30 - (0.25 + 0.5 + 0.5 + 0.25) = 28.5 s scored.
        ("perfect, other labels", aba, [(0, 10, "x"), (10, 20, "y"), (20, 30, "x")],
         {"der": 0.0, "scored": 28.5, "miss": 0.0, "fa": 0.0, "conf": 0.0,
          "ref_speakers": 2, "hyp_speakers": 2}),
        ("perfect, no collar", aba, [(0, 10, "x"), (10, 20, "y"), (20, 30, "x")],
         {"der": 0.0, "scored": 30.0}, 0.0),
        # The third turn goes to y: x=A, y=B matches 9.5 + 9.5 s, the swapped 9.5 s is confusion.
        ("one swapped segment", aba, [(0, 10, "x"), (10, 20, "y"), (20, 30, "y")],
         {"conf": 9.5, "miss": 0.0, "fa": 0.0, "der": 9.5 / 28.5}),
        ("one swapped segment, no collar", aba, [(0, 10, "x"), (10, 20, "y"), (20, 30, "y")],
         {"conf": 10.0, "der": 1 / 3}, 0.0),
        # B (12-20 s) is not found at all: 7.5 of 9.5 + 7.5 scored seconds are missed.
        ("missed speech", [(0, 10, "A"), (12, 20, "B")], [(0, 10, "x")],
         {"miss": 7.5, "fa": 0.0, "conf": 0.0, "scored": 17.0, "der": 7.5 / 17,
          "hyp_speakers": 1}),
        # Hypothesis speech in a gap is false alarm; 0.2 s of overrun inside a collar is not.
        ("false alarm", [(0, 10, "A")], [(0, 10.2, "x"), (15, 17, "y")],
         {"fa": 2.0, "miss": 0.0, "conf": 0.0, "der": 2.0 / 9.5}),
        # One reference speaker split into two hypothesis speakers: only one of them maps.
        ("split speaker", [(0, 10, "A")], [(0, 5, "x"), (5, 10, "y")],
         {"conf": 4.75, "der": 0.5, "hyp_speakers": 2}),
        # A mapping that a greedy choice gets wrong. Scored overlaps (collars at 0, 6, 11, ...):
        # A-x 5.5, A-y 4.5, B-x 4.5, C-z 3.5 of 18 s. Greedy A=x leaves B unmatched (9 s);
        # the best is A=y, B=x, C=z (12.5 s matched), so confusion is 18 - 12.5 = 5.5 s.
        ("optimal not greedy", [(0, 6, "A"), (6, 11, "A"), (20, 25, "B"), (30, 34, "C")],
         [(0, 6, "x"), (6, 11, "y"), (20, 25, "x"), (30, 34, "z")],
         {"conf": 5.5, "scored": 18.0, "der": 5.5 / 18}),
        # Overlapped reference speech: where A and B both talk and only x is found, one is missed.
        ("overlap is scored", [(0, 10, "A"), (5, 10, "B")], [(0, 10, "x")],
         {"miss": 4.5, "conf": 0.0, "scored": 13.5, "der": 4.5 / 13.5}),
        ("empty hypothesis", aba, [], {"miss": 28.5, "der": 1.0, "hyp_speakers": 0}),
    ]
    failures = sum(check(*case) for case in cases)
    # Pooling sums errors and reference time over files; a missing hypothesis file is all missed.
    refs = {"a": [(0, 10 * TICKS, "A")], "b": [(0, 10 * TICKS, "B")]}
    total = score(refs, {"a": [(0, 10 * TICKS, "x")]}, 0.25)[-1][1]
    ok = abs(total["der"] - 0.5) < 1e-9 and abs(total["scored"] - 19.0) < 1e-9
    print(f"{'ok  ' if ok else 'FAIL'} pooled over files")
    failures += not ok
    print(f"self-test: {failures} failure(s)")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-r", "--ref", action="append", default=[], help="reference RTTM")
    parser.add_argument("-s", "--hyp", action="append", default=[], help="hypothesis RTTM")
    parser.add_argument("--collar", type=float, default=0.25,
                        help="no-score seconds on each side of reference boundaries")
    parser.add_argument("--tsv", action="store_true", help="tab-separated output")
    parser.add_argument("--self-test", action="store_true", help="run the hand-computed cases")
    args = parser.parse_args()
    if args.self_test:
        sys.exit(1 if self_test() else 0)
    if not args.ref or not args.hyp:
        parser.error("need at least one -r REF.rttm and one -s HYP.rttm")
    refs, hyps = read_rttm(args.ref), read_rttm(args.hyp)
    if not refs:
        parser.error("the reference has no SPEAKER lines")
    extra = sorted(set(hyps) - set(refs))
    if extra:
        print(f"der.py: ignoring hypothesis files not in the reference: {' '.join(extra)}",
              file=sys.stderr)
    print_table(score(refs, hyps, args.collar), args.tsv)


if __name__ == "__main__":
    main()
