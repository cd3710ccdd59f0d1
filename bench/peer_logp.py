#!/usr/bin/env python3
"""Log-likelihood of echoflow's weights and data in the PyTorch peer model (identical-maths check).

Usage:
  python3 peer_logp.py PEER_SCRIPT CHECKPOINT BATCH     an echoflow checkpoint (safetensors), as saved
  python3 peer_logp.py PEER_SCRIPT WEIGHTS_JSON         the JSON hand-off of bench/peer_check.ts

PEER_SCRIPT is torch_esn_flow.py; its classes (DynFlow, esn_states) are imported from that path, so the
check runs the peer's own code.

CHECKPOINT is read by read_checkpoint.py (beside this file: the safetensors format from its specification,
checksum verified) and mapped to the peer's state_dict here (peer_state): echoflow's `Linear` stores
[in, out], the peer's nn.Linear [out, in]. The sizes come from the tensors, the leaking rate from the
checkpoint's config. BATCH is a safetensors file (no checksum) of `x` [T, B, D] float32, zero-padded frames,
time-major, and `lengths` [B] int32.

WEIGHTS_JSON (written by exportForPeer):
  dims     {frame_dim, esn_dim, hidden, layers, flows}
  leak     ESN leaking rate
  state    the peer's state_dict names -> {shape, values} (Linear weights already [out, in])
  wres     the sparse reservoir {n, per_row, values, columns} (row r has per_row entries)
  wfb      {shape: [N, D], values}
  x        {shape: [T, B, D], values} zero-padded frames, time-major;  lengths [B]

Everything runs in float64, so the reference carries no float32 rounding. Prints one JSON line:
{"logp": [log p(sequence_b) for each b], "torch": version}.
"""
import importlib.util, json, os, re, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_checkpoint  # noqa: E402


def tensor(entry):
    _dtype, shape, values = entry
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def peer_state(tensors):
    """The peer's state_dict from an echoflow checkpoint's `params/` tensors, and (flows, layers)."""
    state, flows, layers = {}, set(), set()
    for key, entry in tensors.items():
        if not key.startswith("params/"):
            continue
        name, t = key[len("params/"):], tensor(entry)
        if name == "density/flow/0/rescale":
            state["rescale"] = t
            continue
        m = re.fullmatch(r"density/flow/0/layer/(\d+)/(.+)", name)
        if not m:
            sys.exit(f"peer_logp.py: no peer name for parameter {name} (the peer is one flow of Toeplitz "
                     "conditioners: dyn_esn_flow, num_mixtures 1, use_toeplitz true)")
        i, rest = m.group(1), m.group(2)
        flows.add(int(i))
        if (s := re.fullmatch(r"first/(params|bias)", rest)):
            state[f"nets.{i}.body.0.{s.group(1)}"] = t
        elif (s := re.fullmatch(r"hidden/(\d+)/(weight|bias)", rest)):
            # body = [Toeplitz, ReLU, Linear, ReLU, ...]: hidden layer j sits at index 2 (j + 1).
            layers.add(int(s.group(1)))
            state[f"nets.{i}.body.{2 * (int(s.group(1)) + 1)}.{s.group(2)}"] = t.t() if s.group(2) == "weight" else t
        elif (s := re.fullmatch(r"(slope|intercept)/(weight|bias)", rest)):
            state[f"nets.{i}.{s.group(1)}.{s.group(2)}"] = t.t() if s.group(2) == "weight" else t
        else:
            sys.exit(f"peer_logp.py: no peer name for parameter {name}")
    return state, len(flows), len(layers) + 1


def from_checkpoint(ckpt_path, batch_path):
    """Sizes, leak, state_dict, reservoir, W_fb, x and lengths from an echoflow checkpoint and a batch."""
    metadata, tensors = read_checkpoint.read(ckpt_path)
    config = json.loads(metadata["config"])
    state, flows, layers = peer_state(tensors)
    wfb = tensor(tensors["buffers/encoder/feedback"])  # [N, D], as the peer's esn_states takes it
    N, D = wfb.shape
    values = tensor(tensors["buffers/encoder/reservoir_values"])  # [N, per_row]
    columns = tensor(tensors["buffers/encoder/reservoir_columns"]).long()  # integers stored as float32
    wres = torch.zeros(N, N)
    rows = torch.arange(N).repeat_interleave(values.shape[1])
    wres.index_put_((rows, columns.reshape(-1)), values.reshape(-1), accumulate=True)
    hidden = state["nets.0.body.0.bias"].shape[0]
    _, batch = read_checkpoint.read(batch_path, verify_checksum=False)
    x = tensor(batch["x"])
    lengths = torch.tensor(batch["lengths"][2], dtype=torch.long)
    return (D, N, hidden, layers, flows), config["leaking_rate"], state, wres, wfb, x, lengths


def from_json(weights_path):
    with open(weights_path) as f:
        d = json.load(f)
    dims = d["dims"]
    state = {k: torch.tensor(v["values"]).reshape(v["shape"]) for k, v in d["state"].items()}
    r = d["wres"]
    rows = torch.arange(r["n"]).repeat_interleave(r["per_row"])
    wres = torch.zeros(r["n"], r["n"])
    wres.index_put_((rows, torch.tensor(r["columns"], dtype=torch.long)), torch.tensor(r["values"]), accumulate=True)
    wfb = torch.tensor(d["wfb"]["values"]).reshape(d["wfb"]["shape"])
    x = torch.tensor(d["x"]["values"]).reshape(d["x"]["shape"])
    sizes = (dims["frame_dim"], dims["esn_dim"], dims["hidden"], dims["layers"], dims["flows"])
    return sizes, d["leak"], state, wres, wfb, x, torch.tensor(d["lengths"])


def main():
    peer_path = sys.argv[1]
    spec = importlib.util.spec_from_file_location("torch_esn_flow", peer_path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    torch.set_default_dtype(torch.float64)  # the peer's esn_states makes its h_0 with the default dtype
    try:
        inputs = from_checkpoint(sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else from_json(sys.argv[2])
    except read_checkpoint.FormatError as e:
        sys.exit(f"peer_logp.py: {sys.argv[2]}: {e}")
    (D, N, hidden, layers, flows), leak, state, wres, wfb, x, lengths = inputs
    model = peer.DynFlow(D, N, hidden, layers, flows).double()
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Only the buffers the peer derives itself (Toeplitz index, coupling mask) may be missing.
    bad = [m for m in missing if not (m.endswith(".index") or m == "b")]
    if bad or unexpected:
        sys.exit(f"peer_logp.py: weights do not fit the peer model: missing {bad}, unexpected {unexpected}")
    T, B, _ = x.shape
    mask = (torch.arange(T)[:, None] < lengths[None, :]).double()
    with torch.no_grad():
        h = peer.esn_states(x * mask[..., None], wres, wfb, leak)
        lp = model.frame_logp(x.reshape(T * B, D), h.reshape(T * B, N)).reshape(T, B)
        logp = (lp * mask).sum(0)
    print(json.dumps({"logp": logp.tolist(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
