#!/usr/bin/env python3
"""Evaluation throughput of the PyTorch peer model (torch_esn_flow.py does not time evaluation).

Usage: python3 peer_eval.py PEER_SCRIPT [--threads N] [--batch B] [--steps S] [--esn_dim N] [--frame_dim D]

The model, reservoir and batches are made exactly as PEER_SCRIPT's own main() makes them (same seeds,
same draws, its own classes imported from that path), then every batch's per-sequence log-likelihood
log p(x_1..T) = sum_t log p(x_t | h_{t-1}) is computed under torch.no_grad() from the cached ESN states,
in two variants as the peer's training variants: `cached` (the padded [T * B] rows, masked) and `packed`
(only the real frames). The first 3 batches are warm-up. Prints one JSON line per variant, in the peer's
format plus "phase": "eval":
{"peer": "pytorch", "phase": "eval", "variant": "packed", "ms_per_step": ..., "frames_per_s": ...}
where frames_per_s is total real frames / total time over the timed batches, as for training.
"""
import argparse, importlib.util, json, statistics, time
import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--esn_dim", type=int, default=1000)
    ap.add_argument("--frame_dim", type=int, default=40)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("torch_esn_flow", a.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    D, N, B = a.frame_dim, a.esn_dim, a.batch
    # The same draws, in the same order, as the peer's main().
    wres = torch.tensor(peer.reservoir(N, 10, 0.8, rng), dtype=torch.float32)
    wfb = torch.tensor(peer.feedback(N, D, 0.8, rng), dtype=torch.float32)
    batches = []
    for _ in range(a.steps + 3):
        lengths = torch.tensor(np.clip(rng.gamma(2.0, 4.0, size=B).round(), 2, 40), dtype=torch.long)
        T = int(lengths.max())
        x = torch.randn(T, B, D)
        mask = (torch.arange(T)[:, None] < lengths[None, :]).float()
        batches.append((x * mask[..., None], mask))
    frames = [int(m.sum()) for _, m in batches]
    with torch.no_grad():
        cached = [peer.esn_states(x, wres, wfb, 0.5) for x, _ in batches]
    model = peer.DynFlow(D, N, 30, 2, 4)
    model.eval()
    for variant in ("cached", "packed"):
        times = []
        for i, (x, mask) in enumerate(batches):
            T = x.shape[0]
            t0 = time.perf_counter()
            with torch.no_grad():
                h = cached[i]
                if variant == "packed":
                    keep = mask.reshape(-1).bool()
                    lp = model.frame_logp(x.reshape(T * B, D)[keep], h.reshape(T * B, N)[keep])
                    seq = torch.arange(B).repeat(T)[keep]  # row t * B + b holds sequence b
                    logp = torch.zeros(B).index_add_(0, seq, lp)
                else:
                    lp = model.frame_logp(x.reshape(T * B, D), h.reshape(T * B, N)).reshape(T, B)
                    logp = (lp * mask).sum(0)
                logp.sum().item()
            if i >= 3:
                times.append(time.perf_counter() - t0)
        print(json.dumps({"peer": "pytorch", "phase": "eval", "torch": torch.__version__, "threads": a.threads,
                          "variant": variant, "batch": B, "frame_dim": D, "esn_dim": N,
                          "ms_per_step": round(statistics.median(times) * 1000, 2),
                          "frames_per_s": round(sum(frames[3:]) / sum(times), 1)}))


if __name__ == "__main__":
    main()
