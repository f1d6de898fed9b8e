#!/usr/bin/env python3
"""Record the reference fixture that the Rust CAM++ port is tested against.

Run once, by hand, whenever the clips or the model change (the output is committed):

    python3 -m venv /var/tmp/venv-ref
    /var/tmp/venv-ref/bin/pip install torch==2.5.1 torchaudio==2.5.1 numpy
    /var/tmp/venv-ref/bin/python crates/minutes-speaker/scripts/record-fixture.py \
        --model /var/tmp/models/campplus/campplus_cn_en_common.pt \
        --meetings ../shared/data/meetings \
        --out crates/minutes-speaker/tests/fixtures

What it does:
1. Cuts the short clips listed in CLIPS out of the synthetic meetings (16 kHz mono s16 WAV).
2. Defines CAM++ from the published architecture (3D-Speaker, Interspeech 2023: FCM front-end,
   three densely connected TDNN blocks with context-aware masking, transit layers, statistics
   pooling, a dense layer) and loads the same state dict the Rust crate reads.
3. Computes features exactly as 3D-Speaker's inference does: the clip as float in [-1, 1] (what
   torchaudio.load returns, no int16 rescaling), torchaudio.compliance.kaldi.fbank with 80 bins and
   dither 0, then per-utterance mean normalization.
4. Writes reference.json: per clip a few raw fbank rows plus the per-bin mean of all frames (fbank
   parity), and the 192-d embedding (embedding parity). The model is a pure function of its
   input in eval mode, so the numbers are reproducible.
"""

import argparse
import json
import pathlib
import re
import wave

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi

# (file stem, meeting, start s, duration s). Every clip lies inside one speaker turn (see the
# meeting's JSON); the same people appear in two meetings, which the identification test needs.
CLIPS = [
    ("david_en02", "en02_customer_escalation", 1.0, 2.5),
    ("david_en03", "en03_budget_review", 28.0, 2.5),
    ("sarah_en02", "en02_customer_escalation", 13.0, 2.5),
    ("sarah_en03", "en03_budget_review", 37.0, 2.5),
    ("marcus_en01", "en01_sprint_planning", 12.0, 2.5),
    ("liu_yang_zh02", "zh02_incident_review", 1.0, 2.5),
]

# Raw fbank rows stored per clip; the rest is covered by the per-bin mean over all frames.
FBANK_ROWS = [0, 120]

BN_EPS = 1e-5


def batch_norm(x, sd, prefix, affine=True):
    """Inference-mode BatchNorm over dim 1 with the running statistics of `prefix`."""
    return F.batch_norm(
        x,
        sd[prefix + ".running_mean"],
        sd[prefix + ".running_var"],
        sd[prefix + ".weight"] if affine else None,
        sd[prefix + ".bias"] if affine else None,
        training=False,
        eps=BN_EPS,
    )


def res_block(x, sd, p, freq_stride):
    """2-D residual block of the FCM front-end; only the frequency axis is ever strided."""
    out = F.conv2d(x, sd[p + ".conv1.weight"], stride=(freq_stride, 1), padding=1)
    out = F.relu(batch_norm(out, sd, p + ".bn1"))
    out = F.conv2d(out, sd[p + ".conv2.weight"], padding=1)
    out = batch_norm(out, sd, p + ".bn2")
    if p + ".shortcut.0.weight" in sd:
        short = F.conv2d(x, sd[p + ".shortcut.0.weight"], stride=(freq_stride, 1))
        short = batch_norm(short, sd, p + ".shortcut.1")
    else:
        short = x
    return F.relu(out + short)


def fcm(feats, sd):
    """(B, T, 80) features -> (B, 32 * 10, T) by 2-D convolutions that shrink frequency 8x."""
    x = feats.permute(0, 2, 1).unsqueeze(1)
    x = F.relu(batch_norm(F.conv2d(x, sd["head.conv1.weight"], padding=1), sd, "head.bn1"))
    for layer in ("layer1", "layer2"):
        x = res_block(x, sd, f"head.{layer}.0", 2)
        x = res_block(x, sd, f"head.{layer}.1", 1)
    x = F.conv2d(x, sd["head.conv2.weight"], stride=(2, 1), padding=1)
    x = F.relu(batch_norm(x, sd, "head.bn2"))
    b, c, f, t = x.shape
    return x.reshape(b, c * f, t)


def context_mask(x, sd, p):
    """CAM: the local conv output gated by a sigmoid of (utterance mean + 100-frame segment mean)."""
    t = x.shape[-1]
    seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
    seg = seg.repeat_interleave(100, dim=-1)[..., :t]
    context = x.mean(-1, keepdim=True) + seg
    hidden = F.relu(F.conv1d(context, sd[p + ".linear1.weight"], sd[p + ".linear1.bias"]))
    return torch.sigmoid(F.conv1d(hidden, sd[p + ".linear2.weight"], sd[p + ".linear2.bias"]))


def dense_tdnn_layer(x, sd, p, dilation):
    h = F.relu(batch_norm(x, sd, p + ".nonlinear1.batchnorm"))
    h = F.conv1d(h, sd[p + ".linear1.weight"])
    h = F.relu(batch_norm(h, sd, p + ".nonlinear2.batchnorm"))
    local = F.conv1d(h, sd[p + ".cam_layer.linear_local.weight"], padding=dilation, dilation=dilation)
    return local * context_mask(h, sd, p + ".cam_layer")


def campplus(feats, sd):
    """Mean-normalized fbank (B, T, 80) -> raw 192-d embeddings (B, 192)."""
    x = fcm(feats, sd)
    x = F.conv1d(x, sd["xvector.tdnn.linear.weight"], stride=2, padding=2)
    x = F.relu(batch_norm(x, sd, "xvector.tdnn.nonlinear.batchnorm"))
    for block, (layers, dilation) in enumerate([(12, 1), (24, 2), (16, 2)], start=1):
        for i in range(1, layers + 1):
            new = dense_tdnn_layer(x, sd, f"xvector.block{block}.tdnnd{i}", dilation)
            x = torch.cat([x, new], dim=1)
        p = f"xvector.transit{block}"
        x = F.relu(batch_norm(x, sd, p + ".nonlinear.batchnorm"))
        x = F.conv1d(x, sd[p + ".linear.weight"])
    x = F.relu(batch_norm(x, sd, "xvector.out_nonlinear.batchnorm"))
    stats = torch.cat([x.mean(-1), x.std(-1, unbiased=True)], dim=-1)
    emb = F.conv1d(stats.unsqueeze(-1), sd["xvector.dense.linear.weight"])
    emb = batch_norm(emb, sd, "xvector.dense.nonlinear.batchnorm", affine=False)
    return emb.squeeze(-1)


def cut_clip(meetings, meeting, start, dur, dest):
    with wave.open(str(meetings / f"{meeting}.wav"), "rb") as src:
        assert src.getframerate() == 16000 and src.getnchannels() == 1 and src.getsampwidth() == 2
        src.setpos(int(round(start * 16000)))
        frames = src.readframes(int(round(dur * 16000)))
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(frames)


def read_clip(path):
    """The clip as torchaudio.load would return it: float32 in [-1, 1], shape (1, N)."""
    with wave.open(str(path), "rb") as src:
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return torch.from_numpy(pcm.astype(np.float32) / 32768.0).unsqueeze(0)


def rounded(values, digits=6):
    return [round(float(v), digits) for v in values]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=pathlib.Path)
    ap.add_argument("--meetings", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    args = ap.parse_args()

    sd = torch.load(args.model, map_location="cpu", weights_only=True)
    args.out.mkdir(parents=True, exist_ok=True)
    clips = []
    embeddings = {}
    for stem, meeting, start, dur in CLIPS:
        path = args.out / f"{stem}.wav"
        cut_clip(args.meetings, meeting, start, dur, path)
        wav = read_clip(path)
        raw = kaldi.fbank(wav, num_mel_bins=80, sample_frequency=16000, dither=0.0)
        feats = raw - raw.mean(0, keepdim=True)
        with torch.no_grad():
            emb = campplus(feats.unsqueeze(0), sd)[0]
        embeddings[stem] = F.normalize(emb, dim=0)
        clips.append(
            {
                "file": path.name,
                "source": {"meeting": meeting, "start_s": start, "duration_s": dur},
                "speaker": stem.rsplit("_", 1)[0],
                "num_frames": raw.shape[0],
                "fbank_rows": {str(r): rounded(raw[r], 5) for r in FBANK_ROWS if r < raw.shape[0]},
                "fbank_bin_means": rounded(raw.mean(0), 5),
                "embedding": rounded(emb, 5),
            }
        )
    names = [c for c, *_ in CLIPS]
    cosines = {
        f"{a}~{b}": round(float(embeddings[a] @ embeddings[b]), 4)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    fixture = {
        "model": args.model.name,
        "torch": torch.__version__,
        "features": "torchaudio.compliance.kaldi.fbank(num_mel_bins=80, dither=0) on float [-1,1]; "
        "embedding input is mean-normalized per clip",
        "clips": clips,
        "reference_cosines": cosines,
    }
    text = json.dumps(fixture, indent=1)
    # One line per number list keeps the file small and its diffs readable.
    text = re.sub(r"\[\s+([-0-9.,e\s]+?)\s+\]", lambda m: "[" + "".join(m.group(1).split()) + "]", text)
    (args.out / "reference.json").write_text(text + "\n")
    for k, v in cosines.items():
        print(f"{k:32s} {v:.4f}")


if __name__ == "__main__":
    main()
