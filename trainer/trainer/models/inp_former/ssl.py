"""Making a randomly initialised encoder useful when no pretrained weights can be had.

INP-Former assumes DINOv2 features. A factory that cannot download them gets a random ViT, whose
features are poor for this job: random attention mixes every token with the global mean, so the
features lose locality, and the random positional embedding makes every token differ by where it
is rather than what it shows. ``prepare_encoder`` fixes that from the training images alone, in
seconds, without gradient steps:

``pca`` (default)
    The patch embedding becomes the leading principal components of the training images' 14×14
    patches, whitened beyond the usual: component k is scaled by (λk + λ̄)^(−w/2)·λ̄^(−(1−w)/2)
    (λ̄ the mean kept eigenvalue; ``whiten`` w, default 1.5), so the few strong components (local
    brightness, the texture's dominant streaks) no longer dominate the cosine and the finer ones
    (edges, small blobs: where defects show) count as much; the positional embedding, CLS and
    register tokens are zeroed; LayerScale is set small (``layer_scale``, default 0.1) so each
    random block adds a little nonlinear detail without washing out the patch code. The kept
    layers then describe each patch by how it differs from the patches of good training images,
    which is what the reconstruction branch needs. Measured on the synthetic surface set (crop
    224, width 96, 400 steps): w = 0 gave I-AUROC 0.61, 0.5 gave 0.85, 1 gave 0.97, 1.5 gave 0.99.

``conv``
    For real objects, where a linear code of one 14×14 patch is not enough (MVTec bottle: I-AUROC
    0.64 with ``pca``). The encoder gets a convolutional stem (``ConvStem`` in encoder.py:
    random 3×3 conv + ReLU + max-pool stages, the last two read at strides 8 and 16, smoothed and
    resized to the token grid). Each convolution is standardised on the training images (its
    outputs get zero mean and unit variance per channel: batch normalisation folded into the
    weights, so nothing changes at run time); the stem's 1×1 projection to the embedding width
    becomes the whitened principal components of its features (``whiten`` as above, default 1).
    The rest as ``pca``. The stem adds about 0.2 GMAC at 224 px, less than two ViT-S blocks.
    MVTec bottle (392 px, 600 steps): I-AUROC 0.98 / P-AUROC 0.94. On fine textures ``pca`` stays
    better (synthetic surface: 0.85 / 0.92 with ``conv`` against 0.997 / 0.985).

``none``
    Leave the encoder as initialised (for comparison).

What it costs against DINOv2 weights is measured in trainer/README.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...preprocess import to_model_input
from ...progress import progress

METHODS = ("pca", "conv", "none")

#: ``whiten`` when none is given, per method (what measured best: README "Without pretrained weights").
DEFAULT_WHITEN = {"pca": 1.5, "conv": 1.0}


def _patches(x: torch.Tensor, patch: int, offsets: tuple[int, ...]) -> torch.Tensor:
    """All patch×patch patches on the grid, at a few offsets: [P, 3·patch·patch]."""
    rows = []
    for off in offsets:
        shifted = x[:, :, off:, off:]
        h = (shifted.shape[2] // patch) * patch
        w = (shifted.shape[3] // patch) * patch
        unfolded = torch.nn.functional.unfold(shifted[:, :, :h, :w], kernel_size=patch, stride=patch)
        rows.append(unfolded.transpose(1, 2).reshape(-1, unfolded.shape[1]))
    return torch.cat(rows)


@torch.no_grad()
def pca_patch_embedding(
    images: torch.Tensor, patch: int, dim: int, whiten: float = 1.5, max_patches: int = 200_000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Conv weight [dim, 3, patch, patch], bias [dim] and eigenvalues from normalised images.

    ``whiten`` w scales component k by (λk + λ̄)^(−w/2)·λ̄^(−(1−w)/2): 0 keeps the raw projections
    (strong components such as local brightness dominate), 1 is partial whitening, above 1 the
    strongest components are pushed below the rest.
    """
    offsets = (0, patch // 2)
    samples = _subsample(_patches(images, patch, offsets).double(), max_patches, seed)
    features = samples.shape[1]
    if dim > features:
        raise ValueError(f"ssl pca: embedding width {dim} exceeds the patch size 3·{patch}² = {features}")
    weight, bias, eigvals, _ = whitened_components(samples, dim, whiten)
    return weight.reshape(dim, 3, patch, patch), bias, eigvals


def _subsample(samples: torch.Tensor, max_rows: int, seed: int) -> torch.Tensor:
    """At most ``max_rows`` rows of ``samples``, drawn by ``seed`` (all of them when there are fewer)."""
    if samples.shape[0] <= max_rows:
        return samples
    pick = torch.randperm(samples.shape[0], generator=torch.Generator().manual_seed(seed))[:max_rows]
    return samples[pick]


@torch.no_grad()
def whitened_components(
    samples: torch.Tensor, dim: int, whiten: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Weight [dim, F], bias [dim] and eigenvalues of the projection onto the leading principal
    components of ``samples`` [P, F], component k scaled by (λk + λ̄)^(−w/2)·λ̄^(−(1−w)/2), and the
    samples' total variance (the covariance's trace)."""
    samples = samples.double()
    mean = samples.mean(dim=0)
    centred = samples - mean
    cov = centred.T @ centred / max(1, centred.shape[0] - 1)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals = eigvals.flip(0)[:dim].clamp(min=0)
    eigvecs = eigvecs.flip(1)[:, :dim]
    # Fix each component's sign (eigh's is arbitrary) so the result is reproducible.
    signs = torch.sign(eigvecs[eigvecs.abs().argmax(dim=0), torch.arange(dim)])
    eigvecs = eigvecs * signs
    scale = (eigvals + eigvals.mean()).pow(-0.5 * whiten) * eigvals.mean().pow(-0.5 * (1.0 - whiten))
    weight = (eigvecs * scale).T  # [dim, features]
    bias = -(weight @ mean)
    return weight.float(), bias.float(), eigvals.float(), float(torch.trace(cov))


@torch.no_grad()
def standardise_conv_stem(stem: nn.Module, x: torch.Tensor) -> None:
    """Folds per-channel standardisation on ``x`` (normalised images) into each stage's conv."""
    for stage in progress(stem.stages, "ssl conv: standardise", unit="stage"):
        conv = stage[0]
        y = conv(x)
        mu = y.mean(dim=(0, 2, 3))
        sd = y.std(dim=(0, 2, 3)).clamp(min=1e-5)
        conv.weight.div_(sd.view(-1, 1, 1, 1))
        conv.bias.sub_(mu).div_(sd)
        x = stage(x)


@torch.no_grad()
def conv_stem_projection(
    stem: nn.Module, x: torch.Tensor, dim: int, whiten: float, batch: int = 8, max_tokens: int = 200_000, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """Sets ``stem.proj`` to the whitened principal components of the stem's features on ``x``.

    Returns the kept eigenvalues and the features' total variance.
    """
    feats = torch.cat([stem.features(x[i : i + batch])
                       for i in progress(range(0, len(x), batch), "ssl conv: stem features", unit="batch")])
    samples = _subsample(feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1]), max_tokens, seed)
    if dim > samples.shape[1]:
        raise ValueError(f"ssl conv: embedding width {dim} exceeds the stem's {samples.shape[1]} features")
    weight, bias, eigvals, total = whitened_components(samples, dim, whiten)
    stem.proj.weight.copy_(weight.view(dim, -1, 1, 1))
    stem.proj.bias.copy_(bias)
    return eigvals, total


@torch.no_grad()
def prepare_encoder(
    model: nn.Module, images: np.ndarray, method: str = "pca", layer_scale: float = 0.1, whiten: float | None = None
) -> dict:
    """Initialise ``model.encoder`` from uint8 NHWC training ``images``; returns what was done.

    ``conv`` needs an encoder built with ``stem="conv"``, the others the patch stem. The returned
    dict goes into the run's record (and the bundle's manifest ``training``).
    """
    if method not in METHODS:
        raise ValueError(f"ssl: unknown method {method!r} (expected one of {METHODS})")
    if method == "none":
        return {"method": "none"}
    encoder = model.encoder
    wanted = "conv" if method == "conv" else "patch"
    if encoder.config.stem != wanted:
        raise ValueError(f"ssl {method}: needs an encoder with the {wanted} stem, this one has {encoder.config.stem!r}")
    w = DEFAULT_WHITEN[method] if whiten is None else whiten
    x = to_model_input(images)
    patch = encoder.patch_size
    dim = encoder.config.embed_dim
    if method == "pca":
        weight, bias, eigvals = pca_patch_embedding(x, patch, dim, w)
        encoder.patch_embed.proj.weight.copy_(weight)
        encoder.patch_embed.proj.bias.copy_(bias)
        total = float(x.var(dim=(0, 2, 3)).sum()) * patch * patch
    else:
        # Statistics from a spread of images: enough for per-channel moments, bounded in memory.
        step = max(1, len(x) // 32)
        standardise_conv_stem(encoder.patch_embed, x[::step][:32])
        eigvals, total = conv_stem_projection(encoder.patch_embed, x, dim, w)
    encoder.pos_embed.zero_()
    encoder.cls_token.zero_()
    encoder.register_tokens.zero_()
    for blk in encoder.blocks:
        blk.ls1.gamma.fill_(layer_scale)
        blk.ls2.gamma.fill_(layer_scale)
    explained = float(eigvals.sum() / max(1e-12, total))
    encoder.config.weights = f"ssl-{method}"
    return {"method": method, "layer_scale": layer_scale, "whiten": w, "images": int(len(images)),
            "explained_variance": round(min(1.0, explained), 4)}
