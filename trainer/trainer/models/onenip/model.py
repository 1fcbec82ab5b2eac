"""OneNIP (Gao et al., ECCV 2024): one normal image prompts the reconstruction of a target image.

A plain ``nn.Module`` whose forward exports cleanly; training glue lives beside it (``train.py``).
Parameter names are the authors' (``backbone.*`` in the EfficientNet-PyTorch layout,
``reconstruction.{pos_embed,input_proj,output_proj,transformer,seghead}.*``) so their checkpoints
(keys under ``module.``) load unchanged.

Facts (shared/MODELS.md): the backbone's four levels → the neck (14×14 at 224 px, align-corners
resize, 272 channels) → tokens projected to 256 dims (``input_proj``), learned row/column
positional embedding → the transformer (transformer.py) with target and prompt → reconstruction
tokens → ``output_proj`` back to 272 channels. Maps: rec = L2 norm over channels of
(reconstruction − features), ×16 bilinear (align_corners=True); the refiner (``seghead``: two
conv3×3 + BN + ReLU + deconv2×2 blocks, then a 1×1 conv) on |reconstruction − features| gives a
logit at 4× the grid, ×4 bilinear (align_corners=True), sigmoid. The fused map and the score are
the recipe's (recipe.py). Training adds feature jitter (scale 20) to the tokens before
``input_proj``.

Two inputs, never one batch split in two: the authors' neck cuts its batch at B/2 into targets
and prompts, so N targets with one prompt would silently mistake a target for a prompt. Here the
target and the prompt are separate arguments (and separate graph inputs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import STRIDE, BackboneConfig, build_backbone, neck
from .transformer import PositionEmbeddingLearned, Transformer, neighbour_mask, neighbour_window


@dataclass
class OneNipConfig:
    """Architecture of a OneNIP model. Defaults are the authors' (224 px, 256 dims, 8 heads, 4 + 4 layers)."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    image_size: int = 224
    """Input side in pixels (square); the token grid is image_size / 16."""
    hidden_dim: int = 256
    heads: int = 8
    ffn_dim: int = 1024
    encoder_layers: int = 4
    decoder_layers: int = 4
    dropout: float = 0.1
    decoder: str = "v2"
    """``v2``: the decoder of e93dec5; ``v1``: the authors' first release (transformer.py)."""
    mask: list[bool] = field(default_factory=lambda: [True, True, True])
    """Neighbour mask in [encoder, decoder prompt→target, decoder target→prompt] (the authors': all)."""
    refiner_width: int = 128
    jitter_scale: float = 20.0
    jitter_prob: float = 1.0

    @property
    def grid(self) -> tuple[int, int]:
        """The token grid ``(h, w)``."""
        return (self.image_size // STRIDE, self.image_size // STRIDE)

    @property
    def feature_dim(self) -> int:
        """Channels of the neck's output (272 for both backbones at their default widths)."""
        if self.backbone.kind == "conv":
            return int(sum(self.backbone.conv_widths))
        return 272

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OneNipConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["backbone"] = BackboneConfig.from_dict(d.get("backbone", {}))
        return cls(**d)


class MaskHead(nn.Module):
    """The refiner (``seghead``): ``upconv1``/``upconv2`` = conv3×3 (no bias) + BN + ReLU + deconv2×2,
    then ``predictor`` (1×1 conv) → one logit at 4× the grid."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        for k in (1, 2):
            self.add_module(f"upconv{k}", nn.Sequential(
                nn.Conv2d(cin if k == 1 else width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.ConvTranspose2d(width, width, 2, stride=2),
            ))
        self.predictor = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` → logit ``[B, 1, 4h, 4w]``."""
        return self.predictor(self.upconv2(self.upconv1(x)))


class Reconstruction(nn.Module):
    """Everything after the neck: projections, positional embedding, transformer, refiner."""

    def __init__(self, config: OneNipConfig) -> None:
        super().__init__()
        c, d = config.feature_dim, config.hidden_dim
        self.pos_embed = PositionEmbeddingLearned(config.grid, d)
        self.transformer = Transformer(d, config.heads, config.ffn_dim, config.encoder_layers,
                                       config.decoder_layers, config.dropout, config.decoder)
        self.input_proj = nn.Linear(c, d)
        self.output_proj = nn.Linear(d, c)
        self.seghead = MaskHead(c, config.refiner_width)


class OneNipOutput(NamedTuple):
    """What one forward pass gives (maps at the input size)."""

    features: torch.Tensor
    """The neck's features of the target ``[B, C, h, w]``."""
    reconstruction: torch.Tensor
    """Their reconstruction from the prompt ``[B, C, h, w]``."""
    rec_map: torch.Tensor
    """L2 distance map, upsampled ``[B, 1, H, W]``."""
    ref_logit: torch.Tensor
    """The refiner's logit, upsampled ``[B, 1, H, W]`` (its sigmoid is the refined map)."""


class OneNip(nn.Module):
    """``backbone`` (frozen) and ``reconstruction``; ``forward(image, prompt)`` on normalised images."""

    def __init__(self, config: OneNipConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = build_backbone(config.backbone)
        self.reconstruction = Reconstruction(config)
        h, w = config.grid
        window = neighbour_window(h), neighbour_window(w)
        # Not in the state_dict: a function of the config (the authors rebuild it every forward).
        self.register_buffer("mask", neighbour_mask(config.grid, window), persistent=False)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> OneNip:
        """Train mode for the reconstruction only: the backbone (and its batch norm) stays frozen."""
        super().train(mode)
        self.backbone.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The reconstruction's parameters (the backbone is frozen)."""
        return list(self.reconstruction.parameters())

    def reset_trainable(self) -> None:
        """The authors' initialisation (UniAD's xavier_uniform): Linear/Conv/ConvTranspose weights
        xavier-uniform with zero bias, BN weight 1 bias 0, attention in-projections xavier-uniform,
        positional embeddings uniform in [0, 1)."""
        for m in self.reconstruction.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                m.reset_running_stats()
            elif isinstance(m, nn.Embedding):
                nn.init.uniform_(m.weight)
        for name, p in self.reconstruction.named_parameters():
            if name.endswith("in_proj_weight"):
                nn.init.xavier_uniform_(p)
            elif name.endswith("in_proj_bias"):
                nn.init.zeros_(p)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` → the neck's features ``[B, C, h, w]``."""
        return neck(self.backbone(x), self.config.grid)

    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` → ``[B, h·w, C]`` (row-major, as the positional embedding)."""
        return features.flatten(2).transpose(1, 2)

    def jitter(self, tokens: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training noise: + N(0, 1) · ‖token‖ / C · ``jitter_scale``, with probability ``jitter_prob``."""
        cfg = self.config
        if cfg.jitter_scale <= 0 or float(torch.rand(1, generator=generator)) > cfg.jitter_prob:
            return tokens
        norms = tokens.norm(dim=-1, keepdim=True) / tokens.shape[-1]
        noise = torch.randn(tokens.shape, generator=generator, dtype=tokens.dtype)
        return tokens + noise * norms * cfg.jitter_scale

    def reconstruct(self, features: torch.Tensor, prompt_features: torch.Tensor, *, jitter: bool = False,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Target features ``[B, C, h, w]`` and prompt features ``[B or 1, C, h, w]`` → reconstruction
        ``[B, C, h, w]``; ``jitter`` adds the training noise to both before ``input_proj``."""
        rec = self.reconstruction
        b, c, h, w = features.shape
        target, prompt = self.tokens(features), self.tokens(prompt_features)
        if jitter:
            target, prompt = self.jitter(target, generator), self.jitter(prompt, generator)
        enc_mask = self.mask if self.config.mask[0] else None
        dec_mask = self.mask if self.config.mask[1] else None
        out = rec.transformer(rec.input_proj(target), rec.input_proj(prompt), rec.pos_embed(), enc_mask, dec_mask)
        return rec.output_proj(out).transpose(1, 2).reshape(b, c, h, w)

    def maps(self, features: torch.Tensor, reconstruction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rec map, refiner logit), both ``[B, 1, H, W]`` at the input size (align_corners=True)."""
        size = (self.config.image_size, self.config.image_size)
        diff = reconstruction - features
        rec_map = torch.sqrt((diff * diff).sum(dim=1, keepdim=True))
        rec_map = F.interpolate(rec_map, size=size, mode="bilinear", align_corners=True)
        logit = self.reconstruction.seghead(diff.abs())
        logit = F.interpolate(logit, size=size, mode="bilinear", align_corners=True)
        return rec_map, logit

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The global feature used to choose a prompt from a pool: the mean of the projected tokens
        (before the positional embedding), L2-normalised ``[B, D]``. The authors' code carries this
        rule, commented out, for choosing a class's prompts by cosine similarity."""
        g = self.reconstruction.input_proj(self.tokens(features)).mean(dim=1)
        return F.normalize(g, dim=1)

    def forward(self, image: torch.Tensor, prompt: torch.Tensor) -> OneNipOutput:
        """Normalised target ``[B, 3, H, W]`` and prompt ``[B or 1, 3, H, W]`` images."""
        feats = self.features(image)
        rec = self.reconstruct(feats, self.features(prompt))
        rec_map, logit = self.maps(feats, rec)
        return OneNipOutput(feats, rec, rec_map, logit)
