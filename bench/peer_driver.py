#!/usr/bin/env python3
"""Drives the PyTorch peer model (torch_esn_flow.py) for the bench: evaluation timings, and steps on demand.

Usage:
  python3 peer_driver.py PEER_SCRIPT eval  [--threads N] [--batch B] [--steps S] [--esn_dim N] [--frame_dim D]
                                           [--device cpu|cuda]
  python3 peer_driver.py PEER_SCRIPT serve --phase train|eval --variant cached|packed [same sizes]

The model, reservoir and batches are made exactly as PEER_SCRIPT's own main() makes them (same seeds, same
draws, its own classes imported from that path); the ESN states are computed once ("cached").

eval: the peer times training only, so this times evaluation, the per-sequence log-likelihood
  log p(x_1..T) = sum_t log p(x_t | h_{t-1}) under torch.no_grad(), in two variants as the peer's
  training variants: `cached` (the padded [T * B] rows, masked) and `packed` (only the real frames).
  The first 3 batches are warm-up. One JSON line per variant, in the peer's format plus "phase": "eval",
  with frames_per_s = total real frames / total time over the timed batches, as for training.
serve: prints {"ready": true, ...} once built, then for every line "step" read from stdin runs one training
  step (the peer's own code: frame_logp, loss, backward, Adam) or one evaluation batch of the next batch
  (cycling), and prints {"ms": ..., "frames": ...}; exits at end of input. The bench alternates these steps
  with its own, so that both see the same machine load.
"""
import argparse, importlib.util, json, statistics, sys, time
import numpy as np
import torch


def load_peer(path):
    spec = importlib.util.spec_from_file_location("torch_esn_flow", path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    return peer


def setup(peer, a):
    """The peer main()'s reservoir, batches (x, mask) and cached states, with the same draws in the same order."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    D, N, B = a.frame_dim, a.esn_dim, a.batch
    wres = torch.tensor(peer.reservoir(N, 10, 0.8, rng), dtype=torch.float32)
    wfb = torch.tensor(peer.feedback(N, D, 0.8, rng), dtype=torch.float32)
    batches = []
    for _ in range(a.steps + 3):
        lengths = torch.tensor(np.clip(rng.gamma(2.0, 4.0, size=B).round(), 2, 40), dtype=torch.long)
        T = int(lengths.max())
        x = torch.randn(T, B, D)
        mask = (torch.arange(T)[:, None] < lengths[None, :]).float()
        batches.append((x * mask[..., None], mask))
    with torch.no_grad():
        states = [peer.esn_states(x, wres, wfb, 0.5) for x, _ in batches]
    dev = torch.device(a.device)
    return [(x.to(dev), m.to(dev)) for x, m in batches], [h.to(dev) for h in states]


def frame_terms(model, x, mask, h, variant):
    """log p(x_t | h_{t-1}) of the batch's frames and how to sum them per sequence, as the peer's variants."""
    T, B, D = x.shape
    N = h.shape[-1]
    if variant == "packed":
        keep = mask.reshape(-1).bool()
        lp = model.frame_logp(x.reshape(T * B, D)[keep], h.reshape(T * B, N)[keep])
        seq = torch.arange(B, device=x.device).repeat(T)[keep]  # row t * B + b holds sequence b
        return torch.zeros(B, device=x.device).index_add_(0, seq, lp)
    lp = model.frame_logp(x.reshape(T * B, D), h.reshape(T * B, N)).reshape(T, B)
    return (lp * mask).sum(0)


def make_step(peer, a, batches, states, phase, variant):
    """A function running batch i's training step or evaluation; training is the peer main()'s own code."""
    model = peer.DynFlow(a.frame_dim, a.esn_dim, 30, 2, 4).to(torch.device(a.device))
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    B, D, N = a.batch, a.frame_dim, a.esn_dim

    def step(i):
        x, mask = batches[i]
        h = states[i]
        if phase == "eval":
            with torch.no_grad():
                frame_terms(model, x, mask, h, variant).sum().item()
            return
        T = x.shape[0]
        if variant == "packed":
            keep = mask.reshape(-1).bool()
            lp = model.frame_logp(x.reshape(T * B, D)[keep], h.reshape(T * B, N)[keep])
            loss = -lp.sum() / B
        else:
            lp = model.frame_logp(x.reshape(T * B, D), h.reshape(T * B, N)).reshape(T, B)
            loss = -(lp * mask).sum(0).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        loss.item()
    return step


def timed_eval(peer, a):
    batches, states = setup(peer, a)
    frames = [int(m.sum()) for _, m in batches]
    for variant in ("cached", "packed"):
        step, times = make_step(peer, a, batches, states, "eval", variant), []
        for i in range(len(batches)):
            t0 = time.perf_counter()
            step(i)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        print(json.dumps({"peer": "pytorch", "phase": "eval", "torch": torch.__version__, "device": a.device,
                          "threads": a.threads,
                          "variant": variant, "batch": a.batch, "frame_dim": a.frame_dim, "esn_dim": a.esn_dim,
                          "ms_per_step": round(statistics.median(times) * 1000, 2),
                          "frames_per_s": round(sum(frames[3:]) / sum(times), 1)}))


def serve(peer, a):
    batches, states = setup(peer, a)
    step = make_step(peer, a, batches, states, a.phase, a.variant)
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": a.threads, "phase": a.phase,
                      "variant": a.variant}), flush=True)
    i = 0
    for line in sys.stdin:
        if line.strip() != "step":
            sys.exit(f"peer_driver.py: unknown command {line.strip()!r} (expected 'step')")
        t0 = time.perf_counter()
        step(i)
        ms = (time.perf_counter() - t0) * 1000
        print(json.dumps({"ms": round(ms, 3), "frames": int(batches[i][1].sum())}), flush=True)
        i = (i + 1) % len(batches)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("mode", choices=["eval", "serve"])
    ap.add_argument("--phase", choices=["train", "eval"], default="train")
    ap.add_argument("--variant", choices=["cached", "packed"], default="packed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--esn_dim", type=int, default=1000)
    ap.add_argument("--frame_dim", type=int, default=40)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (results are read with .item(), which waits for the GPU)")
    a = ap.parse_args()
    peer = load_peer(a.peer)
    (timed_eval if a.mode == "eval" else serve)(peer, a)


if __name__ == "__main__":
    main()
