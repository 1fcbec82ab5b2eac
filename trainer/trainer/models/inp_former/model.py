"""INP-Former (Luo et al., CVPR 2025): INP extractor, bottleneck, INP-guided decoder, groups.

A plain ``nn.Module`` whose forward exports cleanly to ONNX; training glue lives elsewhere
(``train.py``, ``loss.py`` beside it). Parameter names are the authors' (``prototype_token``, ``encoder.*``,
``bottleneck.0.*``, ``aggregation.0.*``, ``decoder.{0..7}.*``) so their checkpoints load unchanged.

Facts (shared/MODELS.md): x = mean of the 8 kept encoder layers; the extractor attends from 6
learnable tokens to x (shared LayerNorm eps 1e-8 on both sides, softmax, residual, MLP ×4) giving
prototypes P; the bottleneck is an MLP; each of the 8 decoder blocks takes queries from the tokens
and keys/values from P only (q, k L2-normalised, ReLU(q·k × learned per-head scale), no softmax, no
residual around the attention), then a residual MLP. Encoder layers 0–3 / 4–7 and the reversed
decoder outputs 0–3 / 4–7 are averaged into two groups, each reshaped to ``[B, D, h, w]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import DEFAULT_TARGET_LAYERS, DinoV2Encoder, EncoderConfig, Mlp


@dataclass
class InpFormerConfig:
    """Architecture of an INP-Former. Defaults are the authors' (ViT-B, 6 INPs, 8 decoder blocks)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    #: Encoder blocks whose outputs are kept (8 of them).
    target_layers: list[int] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8, 9])
    #: Indices into the kept layers (encoder) / reversed decoder outputs (decoder), per group.
    fuse_encoder: list[list[int]] = field(default_factory=lambda: [[0, 1, 2, 3], [4, 5, 6, 7]])
    fuse_decoder: list[list[int]] = field(default_factory=lambda: [[0, 1, 2, 3], [4, 5, 6, 7]])
    num_prototypes: int = 6
    decoder_depth: int = 8
    mlp_ratio: float = 4.0
    #: LayerNorm eps of the extractor and decoder (the authors': 1e-8; keep it fp32 under fp16).
    ln_eps: float = 1e-8

    @classmethod
    def for_size(cls, size: str, **overrides: Any) -> InpFormerConfig:
        """The authors' configuration for an encoder size (tiny is ours, for tests)."""
        enc = EncoderConfig.for_size(size)
        values: dict[str, Any] = {"encoder": enc, "target_layers": list(DEFAULT_TARGET_LAYERS[size])}
        values.update(overrides)
        return cls(**values)

    @property
    def embed_dim(self) -> int:
        """Token width (the encoder's)."""
        return self.encoder.embed_dim

    @property
    def num_heads(self) -> int:
        """Heads of the extractor and decoder (the encoder's)."""
        return self.encoder.num_heads

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InpFormerConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["encoder"] = EncoderConfig.from_dict(d["encoder"])
        return cls(**d)


def cosine(a: torch.Tensor, b: torch.Tensor, dim: int, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity as ``torch.nn.functional.cosine_similarity`` (1.13) computes it.

    ``a·b / sqrt(max(|a|²·|b|², eps²))``; written out so the exported graph and PyTorch agree.
    """
    dot = (a * b).sum(dim)
    n = (a * a).sum(dim) * (b * b).sum(dim)
    return dot / torch.sqrt(torch.clamp(n, min=eps * eps))


class AggregationAttention(nn.Module):
    """Softmax cross-attention: queries from ``x`` (the INPs), keys/values from ``y`` (tokens)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B,T,D]``, ``y`` ``[B,N,D]`` → ``[B,T,D]``."""
        b, t, c = x.shape
        n = y.shape[1]
        h = self.num_heads
        q = self.q(x).reshape(b, t, h, c // h).permute(0, 2, 1, 3)
        kv = self.kv(y).reshape(b, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, c))


class AggregationBlock(nn.Module):
    """INP extractor block: one LayerNorm shared by both inputs, residual attention, residual MLP."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, ln_eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = AggregationAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Prototype queries ``x`` attend to tokens ``y``."""
        x = x + self.attn(self.norm1(x), self.norm1(y))
        return x + self.mlp(self.norm2(x))


class PrototypeAttention(nn.Module):
    """INP-guided attention: L2-normalised q, k; ReLU(q·k × learn_scale); no softmax."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.learn_scale = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Tokens ``x`` ``[B,N,D]`` query prototypes ``p`` ``[B,M,D]``."""
        b, n, c = x.shape
        m = p.shape[1]
        h = self.num_heads
        q = self.q(x).reshape(b, n, h, c // h).permute(0, 2, 1, 3)
        kv = self.kv(p).reshape(b, m, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = F.relu((q @ k.transpose(-2, -1)) * self.learn_scale)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class PrototypeBlock(nn.Module):
    """Decoder block: ``x = attn(norm1(x), norm1(P))`` (no residual), then ``x += mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, ln_eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = PrototypeAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Reconstruct tokens from the prototypes."""
        x = self.attn(self.norm1(x), self.norm1(p))
        return x + self.mlp(self.norm2(x))


class InpFormerOutput(NamedTuple):
    """What a forward pass gives: the groups, and what the coherence loss needs."""

    #: Encoder groups, each ``[B, D, h, w]`` (detach them in the loss).
    en: list[torch.Tensor]
    #: Decoder groups, same shapes.
    de: list[torch.Tensor]
    #: Mean of the kept encoder layers, ``[B, h·w, D]``.
    tokens: torch.Tensor
    #: The INPs of each image, ``[B, M, D]``.
    prototypes: torch.Tensor


def coherence_distance(tokens: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Per token ``min_m (1 − cos(x_i, P_m))``, ``[B, N]`` (also the zero-shot map)."""
    d = 1.0 - cosine(tokens.unsqueeze(2), prototypes.unsqueeze(1), dim=-1)
    return d.min(dim=2).values


def coherence_loss(out: InpFormerOutput) -> torch.Tensor:
    """INP coherence loss: mean of :func:`coherence_distance` (the authors' weight is 0.2)."""
    return coherence_distance(out.tokens, out.prototypes).mean()


class InpFormer(nn.Module):
    """INP-Former. ``forward(x)`` takes normalised ``[B,3,H,W]`` float images."""

    def __init__(self, config: InpFormerConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.embed_dim, config.num_heads
        if len(config.target_layers) != config.decoder_depth:
            msg = "INP-Former pairs each kept encoder layer with a decoder block"
            raise ValueError(msg)
        self.encoder = DinoV2Encoder(config.encoder)
        self.prototype_token = nn.Parameter(torch.randn(config.num_prototypes, d))
        self.aggregation = nn.ModuleList([AggregationBlock(d, h, config.mlp_ratio, config.ln_eps)])
        self.bottleneck = nn.ModuleList([Mlp(d, int(d * config.mlp_ratio))])
        self.decoder = nn.ModuleList(
            PrototypeBlock(d, h, config.mlp_ratio, config.ln_eps) for _ in range(config.decoder_depth)
        )
        #: False (default): the encoder runs under no_grad (frozen, as the authors train).
        self.encoder_grad = False

    def trainable_modules(self) -> nn.ModuleList:
        """What the authors train: bottleneck, decoder, extractor (and ``prototype_token``)."""
        return nn.ModuleList([self.bottleneck, self.decoder, self.aggregation])

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters of :meth:`trainable_modules` plus ``prototype_token``."""
        return [*self.trainable_modules().parameters(), self.prototype_token]

    def reset_trainable(self, std: float = 0.01) -> None:
        """The authors' init of the trained parts: Linear trunc-normal(std, cut at ±3·std), LN 1 and 0."""
        for m in self.trainable_modules().modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std, a=-3 * std, b=3 * std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Patch tokens of the kept encoder layers (under no_grad unless ``encoder_grad``)."""
        if self.encoder_grad:
            return self.encoder.forward_layers(x, self.config.target_layers, pos)
        with torch.no_grad():
            return self.encoder.forward_layers(x, self.config.target_layers, pos)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> InpFormerOutput:
        """Encoder → fuse → INPs → bottleneck → decoder → groups.

        ``pos`` is an optional precomputed positional embedding for this input size
        (:meth:`DinoV2Encoder.pos_embed_for`); export passes it so no bicubic Resize is traced.
        """
        _, _, hh, ww = x.shape
        gh, gw = self.encoder.grid_size(hh, ww)
        en_list = self.encode(x, pos)
        tokens = torch.stack(en_list, dim=1).mean(dim=1)
        de, protos = self.decode(tokens, (gh, gw))
        en = [self._group(en_list, idx, gh, gw) for idx in self.config.fuse_encoder]
        return InpFormerOutput(en, de, tokens, protos)

    def extract_prototypes(self, tokens: torch.Tensor) -> torch.Tensor:
        """The INP extractor alone: the image's prototypes ``[B, M, D]`` from its tokens ``[B, N, D]``.

        With :func:`coherence_distance` this is the zero-shot map, which needs nothing of the decoder.
        """
        b = tokens.shape[0]
        protos = self.prototype_token.unsqueeze(0).expand(b, -1, -1)
        for blk in self.aggregation:
            protos = blk(protos, tokens)
        return protos

    def decode(self, tokens: torch.Tensor, grid: tuple[int, int]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Everything after the encoder: INP extractor → bottleneck → decoder → decoder groups.

        Separate from :meth:`forward` so training on cached encoder tokens runs the same code.
        Returns the decoder groups ([B, D, h, w] each) and the prototypes [B, M, D].
        """
        protos = self.extract_prototypes(tokens)
        y = tokens
        for blk in self.bottleneck:
            y = blk(y)
        de_list = []
        for blk in self.decoder:
            y = blk(y, protos)
            de_list.append(y)
        de_list = de_list[::-1]
        de = [self._group(de_list, idx, grid[0], grid[1]) for idx in self.config.fuse_decoder]
        return de, protos

    @staticmethod
    def _group(layers: list[torch.Tensor], idx: list[int], gh: int, gw: int) -> torch.Tensor:
        fused = torch.stack([layers[i] for i in idx], dim=1).mean(dim=1)
        b, _, d = fused.shape
        return fused.permute(0, 2, 1).reshape(b, d, gh, gw)
