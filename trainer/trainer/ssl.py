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

``none``
    Leave the encoder as initialised (for comparison).

What it costs against DINOv2 weights is measured in trainer/README.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

METHODS = ("pca", "none")


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
    samples = _patches(images, patch, offsets).double()
    if samples.shape[0] > max_patches:
        pick = torch.randperm(samples.shape[0], generator=torch.Generator().manual_seed(seed))[:max_patches]
        samples = samples[pick]
    features = samples.shape[1]
    if dim > features:
        raise ValueError(f"ssl pca: embedding width {dim} exceeds the patch size 3·{patch}² = {features}")
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
    return weight.reshape(dim, 3, patch, patch).float(), bias.float(), eigvals.float()


@torch.no_grad()
def prepare_encoder(
    model: nn.Module, images: np.ndarray, method: str = "pca", layer_scale: float = 0.1, whiten: float = 1.5
) -> dict:
    """Initialise ``model.encoder`` from uint8 NHWC training ``images``; returns what was done.

    The returned dict goes into the run's record (and the bundle's manifest ``training``).
    """
    if method not in METHODS:
        raise ValueError(f"ssl: unknown method {method!r} (expected one of {METHODS})")
    if method == "none":
        return {"method": "none"}
    from .train import to_model_input

    encoder = model.encoder
    x = to_model_input(images)
    patch = encoder.patch_size
    dim = encoder.config.embed_dim
    weight, bias, eigvals = pca_patch_embedding(x, patch, dim, whiten)
    encoder.patch_embed.proj.weight.copy_(weight)
    encoder.patch_embed.proj.bias.copy_(bias)
    encoder.pos_embed.zero_()
    encoder.cls_token.zero_()
    encoder.register_tokens.zero_()
    for blk in encoder.blocks:
        blk.ls1.gamma.fill_(layer_scale)
        blk.ls2.gamma.fill_(layer_scale)
    explained = float(eigvals.sum() / max(1e-12, float(x.var(dim=(0, 2, 3)).sum()) * patch * patch))
    encoder.config.weights = "ssl-pca"
    return {"method": "pca", "layer_scale": layer_scale, "whiten": whiten, "images": int(len(images)),
            "explained_variance": round(min(1.0, explained), 4)}
