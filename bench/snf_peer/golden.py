#!/usr/bin/env python3
"""Golden log-likelihoods and gradients of the MNIST experiments from the ORIGINAL Self-Normalizing Flows
code (github akandykeller/SelfNormalizingFlows), for the weights echoflow exported (export.ts).

Usage (full instructions: bench/snf_peer/README.md):

    /usr/bin/python3 bench/snf_peer/golden.py --snf SNF_DIR --weights /tmp/snf_peer --out tests/fixtures/snf

SNF_DIR holds the original repository's files (the folder with `snf/`). For each experiment and state
(init, perturbed) this script builds the model with the original's own `create_model` and layers, loads
echoflow's weights, feeds the same dequantized batch and computes, in float64 on the CPU:

- `logp`: log p(x) per image in evaluation mode (`model.eval()`, `log_prob(x)`, i.e. compute_expensive:
  exact log-determinants; ConvExp with 13 series terms and the stored power-iteration vectors);
- `loss` and `grads`: one training step of the original's `Experiment.train_epoch` (`model.train()`,
  `get_loss` with compute_expensive = not modified_grad, `backward()`, then `add_recon_grad()` when on):
  the objective whose gradient the optimizer receives and that gradient for every parameter;
- `buffers_after`: buffers changed by that step (ConvExp's power-iteration vectors);
- `f32`: the same quantities computed by the original code in float32, as errors against float64: the
  float32 round-off of the original itself, which sets the scale of the tolerances in the test.

Adaptations of the original code (nothing of its arithmetic is changed):
1. Stub modules for what the layers import but never use here: wandb, matplotlib, torchvision,
   snf.datasets.mnist (data loading) and snf.layers.emerging.inverse_triang_conv (a Cython inverse, used
   only for sampling).
2. snf.utils.convbackward: the original compiles a C++ extension exposing cuDNN's convolution backward
   passes; here `backward_weight` / `backward_input` are torch.nn.grad.conv2d_weight / conv2d_input, the
   same functions (gradient of conv2d with respect to its weight / input).
3. CPU instead of CUDA: NegativeGaussianLoss builds its MultivariateNormal on the CPU in the default dtype.
4. snf.utils.toeplitz.get_sparse_toeplitz builds the sparse matrix with torch.sparse_coo_tensor instead
   of the float32-only torch.sparse.FloatTensor, so that float64 works (same indices and values).
5. The experiments' create_model hard-codes 28 x 28 images and Glow's coupling width 512: their source is
   loaded with `(1, 28, 28)` replaced by `(1, 14, 14)` and `Coupling(current_size)` by
   `Coupling(current_size, width=64)` (echoflow's quick profile), then executed unchanged.
6. Glow's Conv2dZero keeps bias and log-scale in one storage (two Parameters over one zero tensor); they
   are given separate storage so that echoflow's separate values can be loaded (at equal values nothing
   changes; autograd gives each Parameter its own gradient either way).
7. Dequantization draws no noise: its uniform distribution returns the exported noise (x + u is exactly
   echoflow's float32 value), log q(u) = 0 as the original's.
"""
import argparse
import base64
import json
import math
import os
import re
import sys
import types

import numpy as np
import torch

EXPERIMENT_FILES = {
    "selfnorm_fc_mnist": "selfnorm_fc_mnist",
    "exact_fc_mnist": "exact_fc_mnist",
    "selfnorm_cnn_mnist": "selfnorm_cnn_mnist",
    "exact_cnn_mnist": "exact_cnn_mnist",
    "exponential_cnn_mnist": "exponential_cnn_mnist",
    "emerging_cnn_mnist": "emerging_cnn_mnist",
    "conv1x1_glow_mnist": "conv1x1_glow_mnist",
    "selfnorm_glow_mnist": "selfnorm_glow_mnist",
}
# Entries of a tensor stored element by element (every `stride`-th); norm, sum and a +-1 projection
# always cover the whole tensor.
SAMPLE = 32
# Gradient errors are relative to the tensor's norm, or to this fraction of the whole gradient's norm when
# that is larger: a tensor whose gradient nearly cancels (ActNorm's translation right after its data
# initialisation: 1e-8 of the whole) is compared absolutely at that level (the same in the test).
GRAD_FLOOR = 1e-4


def install_stubs(snf_dir):
    """Adaptations 1-4 (see the module docstring)."""
    def stub(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    stub("wandb", log=lambda *a, **k: None, Image=lambda *a, **k: None)
    mpl = stub("matplotlib", use=lambda *a, **k: None)
    mpl.pyplot = stub("matplotlib.pyplot")
    mpl.colors = stub("matplotlib.colors")
    tv = stub("torchvision")
    tv.datasets = stub("torchvision.datasets")
    tv.transforms = stub("torchvision.transforms")
    tv.utils = stub("torchvision.utils")

    def no_data(*a, **k):
        raise RuntimeError("golden.py does not load data")

    stub("snf.datasets.mnist", load_data=no_data)

    class NoInverse:
        def __call__(self, *a):
            raise RuntimeError("the emerging inverse is not used by golden.py")

    stub("snf.layers.emerging.inverse_triang_conv", Inverse=NoInverse)

    def backward_weight(wshape, grad_output, x, padding, stride, dilation, groups, benchmark, deterministic):
        return torch.nn.grad.conv2d_weight(x, wshape, grad_output, stride, padding, dilation, groups)

    def backward_input(xshape, grad_output, w, padding, stride, dilation, groups, benchmark, deterministic):
        return torch.nn.grad.conv2d_input(xshape, w, grad_output, stride, padding, dilation, groups)

    stub("snf.utils.convbackward",
         conv2d_backward=types.SimpleNamespace(backward_weight=backward_weight, backward_input=backward_input))

    sys.path.insert(0, snf_dir)
    import snf.utils.toeplitz as toeplitz
    import snf.layers.selfnorm as selfnorm
    import snf.train.losses as losses
    from torch.distributions.multivariate_normal import MultivariateNormal

    def get_sparse_toeplitz(f, dshape, T_idxs, f_idxs):
        t_size = (int(T_idxs[0].max()) + 1, int(torch.prod(torch.tensor(dshape))))
        return torch.sparse_coo_tensor(T_idxs, toeplitz.get_filter_vals(f, f_idxs), t_size)

    toeplitz.get_sparse_toeplitz = get_sparse_toeplitz
    selfnorm.get_sparse_toeplitz = get_sparse_toeplitz

    def gaussian_init(self, size):
        torch.nn.Module.__init__(self)
        self.size = size
        self.dim = dim = int(np.prod(size))
        self.N = MultivariateNormal(torch.zeros(dim), torch.eye(dim))

    losses.NegativeGaussianLoss.__init__ = gaussian_init


def load_experiment(snf_dir, name, coupling_width):
    """Adaptation 5: the experiment module with the quick profile's image side and coupling width."""
    path = os.path.join(snf_dir, "snf", "experiments", EXPERIMENT_FILES[name] + ".py")
    src = open(path).read()
    if "fc_mnist" not in name:
        src, n = re.subn(r"\(1, 28, 28\)", "(1, 14, 14)", src)
        assert n >= 1, f"{path}: no (1, 28, 28) to replace"
    if coupling_width is not None:
        src, n = re.subn(r"Coupling\(current_size\)", f"Coupling(current_size, width={coupling_width})", src)
        assert n >= 1, f"{path}: no Coupling(current_size) to replace"
    module = types.ModuleType("snf.experiments." + name)
    module.__file__ = path
    exec(compile(src, path, "exec"), module.__dict__)
    return module


def build(snf_dir, ex, batch, dtype):
    torch.set_default_dtype(dtype)
    torch.manual_seed(0)
    np.random.seed(0)
    module = load_experiment(snf_dir, ex["experiment"], ex["coupling_width"])
    kwargs = dict(ex["create_model"])
    if "data_size" in kwargs:
        kwargs["data_size"] = tuple(kwargs["data_size"])
    model = module.create_model(**kwargs)
    from snf.layers.coupling import Conv2dZero
    for m in model.modules():
        if isinstance(m, Conv2dZero):  # adaptation 6
            m.logs = torch.nn.Parameter(m.logs.detach().clone())
    model = model.to(dtype)
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    assigned = set()
    with torch.no_grad():
        for name, t in ex["tensors"].items():
            target = params.get(name, buffers.get(name))
            if target is None:
                sys.exit(f"golden.py: {ex['experiment']}: no tensor {name} in the original model")
            value = torch.tensor(t["values"], dtype=torch.float64).reshape(t["shape"])
            if tuple(value.shape) != tuple(target.shape):
                sys.exit(f"golden.py: {name}: shape {list(value.shape)} != original {list(target.shape)}")
            target.copy_(value.to(target.dtype))
            assigned.add(name)
    missing = [n for n in params if n not in assigned]
    # Buffers the original derives itself: the emerging masks, the spectral-norm log of sigma, the
    # preprocessing constants (Normalization's translation and scale, Dequantization's device marker).
    own = r"(\.mask|_sigma|\.distribution\.empty|^[0-3]\.(translation|scale))$"
    missing += [n for n in buffers if n not in assigned and not re.search(own, n)]
    if missing:
        sys.exit(f"golden.py: {ex['experiment']}: no echoflow value for {missing}")
    side = ex["side"]
    pixels = torch.tensor(batch["pixels"], dtype=dtype).reshape(-1, 1, side, side)
    noise = torch.tensor(batch["dequantized"], dtype=torch.float64).reshape(-1, 1, side, side) - \
        torch.tensor(batch["pixels"], dtype=torch.float64).reshape(-1, 1, side, side)
    deq = model.sequence_modules[0]
    deq.distribution.sample = lambda n, context=None: (noise.to(dtype), 0.0)  # adaptation 7
    return model, pixels


def run(model, x, train):
    """Evaluation log p(x), then one training step's objective, gradients and changed buffers."""
    model.eval()
    with torch.no_grad():
        logp = model.log_prob(x)
    model.train()
    model.zero_grad()
    lossval = -model.log_prob(x, compute_expensive=not train["modified_grad"])
    lossval[lossval != lossval] = 0.0
    loss = lossval.sum() / len(x)
    loss.backward()
    recon = model.add_recon_grad() if train["add_recon_grad"] else 0.0
    objective = float(loss) + float(recon)
    grads = {n: (p.grad.detach().clone() if p.grad is not None else None) for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers() if re.search(r"kernel_[uv]$", n)}
    return logp.detach().double(), objective, grads, buffers


def signs(n):
    """+-1 for entry i: bit 15 of (i * 2654435761) mod 2^32 (the same in tests/snf_golden_test.ts)."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) % np.uint64(2 ** 32)
    return np.where((h >> np.uint64(15)) & np.uint64(1), 1.0, -1.0)


def summary(t):
    """A tensor as shape, norm, sum, +-1 projection, max |entry| and every stride-th entry (flat order)."""
    v = t.detach().double().reshape(-1).numpy()
    stride = max(1, math.ceil(len(v) / SAMPLE))
    sample = v[::stride].astype(np.float32)
    return {
        "shape": list(t.shape),
        "norm": float(np.linalg.norm(v)),
        "sum": float(v.sum()),
        "proj": float((v * signs(len(v))).sum()),
        "absmax": float(np.abs(v).max()) if len(v) else 0.0,
        "stride": stride,
        "sample": base64.b64encode(sample.astype("<f4").tobytes()).decode(),
    }


def rel_err(a, b, scale):
    return float((a.double() - b.double()).abs().max() / scale) if scale > 0 else 0.0


def golden_state(snf_dir, ex, batch):
    names = [n for n, t in ex["tensors"].items() if not t["buffer"] and n in ex["fingerprints"]]
    out = {}
    for dtype in (torch.float64, torch.float32):
        model, x = build(snf_dir, ex, batch, dtype)
        out[dtype] = run(model, x, ex["train"])
    logp, objective, grads, buffers = out[torch.float64]
    logp32, objective32, grads32, buffers32 = out[torch.float32]
    total = math.sqrt(sum(float(grads[n].double().norm()) ** 2 for n in names if grads[n] is not None))
    f32_grad = {}
    for n in names:
        if grads[n] is None:
            continue
        scale = max(float(grads[n].norm()), GRAD_FLOOR * total)
        f32_grad[n] = rel_err(grads32[n], grads[n], scale)
    return {
        "fingerprints": ex["fingerprints"],
        "logp": [float(v) for v in logp],
        "loss": objective,
        "grad_total_norm": total,
        "grads": {n: summary(grads[n]) for n in names if grads[n] is not None},
        "no_grad": [n for n in names if grads[n] is None],
        "buffers_after": {n: summary(b) for n, b in buffers.items()},
        "f32": {
            "logp_max_abs_err": float((logp32 - logp).abs().max()),
            "loss_abs_err": abs(objective32 - objective),
            "grad_max_rel_err": max(f32_grad.values()) if f32_grad else 0.0,
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--snf", required=True, help="folder holding the original's snf/ package")
    ap.add_argument("--weights", required=True, help="folder written by export.ts")
    ap.add_argument("--out", required=True, help="folder for the golden files (tests/fixtures/snf)")
    ap.add_argument("--only", default="", help="comma-separated experiment names")
    args = ap.parse_args()
    torch.set_num_threads(1)
    install_stubs(os.path.abspath(args.snf))
    batch = json.load(open(os.path.join(args.weights, "batch.json")))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "batch.json"), "w") as fh:
        json.dump({
            "made_by": "bench/snf_peer/export.ts (first test digits of the bundled MNIST at 14 x 14, seeded noise)",
            "side": batch["side"],
            "batch": batch["batch"],
            "pixels_uint8": base64.b64encode(np.array(batch["pixels"], dtype=np.uint8).tobytes()).decode(),
            "dequantized_f32le": base64.b64encode(np.array(batch["dequantized"], dtype="<f4").tobytes()).decode(),
        }, fh, indent=2)
    only = [s for s in args.only.split(",") if s]
    for name in EXPERIMENT_FILES:
        if only and name not in only:
            continue
        states = {}
        for state in ("init", "perturbed"):
            ex = json.load(open(os.path.join(args.weights, f"{name}.{state}.json")))
            states[state] = golden_state(os.path.abspath(args.snf), ex, batch)
            f = states[state]["f32"]
            print(f"{name} {state}: mean log p {np.mean(states[state]['logp']):.4f}, loss "
                  f"{states[state]['loss']:.4f}; original in float32: log p err {f['logp_max_abs_err']:.2e}, "
                  f"grad rel err {f['grad_max_rel_err']:.2e}", file=sys.stderr)
        record = {
            "experiment": name,
            "made_by": "bench/snf_peer/golden.py (see bench/snf_peer/README.md)",
            "torch": torch.__version__,
            "create_model": ex["create_model"],
            "coupling_width": ex["coupling_width"],
            "train": ex["train"],
            "grad_floor": GRAD_FLOOR,
            "states": states,
        }
        with open(os.path.join(args.out, f"{name}.json"), "w") as fh:
            json.dump(record, fh, separators=(",", ":"))


if __name__ == "__main__":
    main()
