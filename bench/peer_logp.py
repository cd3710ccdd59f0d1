#!/usr/bin/env python3
"""Log-likelihood of echoflow's weights and data in the PyTorch peer model (identical-maths check).

Usage: python3 peer_logp.py PEER_SCRIPT WEIGHTS_JSON

PEER_SCRIPT is torch_esn_flow.py; its classes (DynFlow, esn_states) are imported from that path, so the
check runs the peer's own code. WEIGHTS_JSON is written by echoflow's bench/peer_check.ts:
  dims     {frame_dim, esn_dim, hidden, layers, flows}
  leak     ESN leaking rate
  state    the peer's state_dict names -> {shape, values} (Linear weights already [out, in])
  wres     the sparse reservoir {n, per_row, values, columns} (row r has per_row entries)
  wfb      {shape: [N, D], values}
  x        {shape: [T, B, D], values} zero-padded frames, time-major;  lengths [B]
Everything runs in float64, so the reference carries no float32 rounding. Prints one JSON line:
{"logp": [log p(sequence_b) for each b], "torch": version}.
"""
import importlib.util, json, sys
import torch


def main():
    peer_path, weights_path = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("torch_esn_flow", peer_path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    torch.set_default_dtype(torch.float64)  # the peer's esn_states makes its h_0 with the default dtype
    with open(weights_path) as f:
        d = json.load(f)
    dims = d["dims"]
    D, N = dims["frame_dim"], dims["esn_dim"]
    model = peer.DynFlow(D, N, dims["hidden"], dims["layers"], dims["flows"]).double()
    state = {k: torch.tensor(v["values"]).reshape(v["shape"]) for k, v in d["state"].items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Only the buffers the peer derives itself (Toeplitz index, coupling mask) may be missing.
    bad = [m for m in missing if not (m.endswith(".index") or m == "b")]
    if bad or unexpected:
        sys.exit(f"peer_logp.py: weights do not fit the peer model: missing {bad}, unexpected {unexpected}")
    r = d["wres"]
    rows = torch.arange(r["n"]).repeat_interleave(r["per_row"])
    wres = torch.zeros(r["n"], r["n"])
    wres.index_put_((rows, torch.tensor(r["columns"], dtype=torch.long)), torch.tensor(r["values"]), accumulate=True)
    wfb = torch.tensor(d["wfb"]["values"]).reshape(d["wfb"]["shape"])
    x = torch.tensor(d["x"]["values"]).reshape(d["x"]["shape"])
    T, B, _ = x.shape
    lengths = torch.tensor(d["lengths"])
    mask = (torch.arange(T)[:, None] < lengths[None, :]).double()
    with torch.no_grad():
        h = peer.esn_states(x * mask[..., None], wres, wfb, d["leak"])
        lp = model.frame_logp(x.reshape(T * B, D), h.reshape(T * B, N)).reshape(T, B)
        logp = (lp * mask).sum(0)
    print(json.dumps({"logp": logp.tolist(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
