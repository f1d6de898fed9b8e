#!/usr/bin/env python3
"""Word (en) or character (zh) error rate of a hypothesis against a meeting's ground truth.

usage: asr_score.py GROUND_TRUTH.json HYPOTHESIS.json   -> prints "<rate> <errors> <reference length>"
The hypothesis is any JSON object with a "segments" list of {"text": ...}.
"""
import json
import re
import sys
import unicodedata


def normalize_en(text):
    text = text.lower().replace("%", " percent").replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return text.split()


def normalize_zh(text):
    # Characters only: punctuation and spaces carry no recognition errors of interest here.
    return [c for c in text if not (unicodedata.category(c).startswith("P") or c.isspace())]


def edit_distance(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def main():
    truth = json.load(open(sys.argv[1]))
    hyp = json.load(open(sys.argv[2]))
    norm = normalize_zh if truth["language"].startswith("zh") else normalize_en
    ref = norm(" ".join(s["text"] for s in truth["segments"]))
    out = norm(" ".join(s["text"] for s in hyp["segments"]))
    errors = edit_distance(ref, out)
    print(f"{errors / max(len(ref), 1):.4f} {errors} {len(ref)}")


if __name__ == "__main__":
    main()
