"""OneNIP's reconstruction transformer: masked post-norm encoder, bidirectional prompt↔target decoder.

Parameter names are the authors' (``transformer.encoder.layers.<i>.self_attn.in_proj_weight``,
``…decoder.layers.<i>.cross_attn_prompt_to_image``, ``cross_attn_image_to_prompt``, ``mlp.lin1``,
``final_attn_token_to_image``, ``decoder.norm`` …), so their checkpoints load unchanged. Tensors are
batch-first here (``[B, L, D]``); the arithmetic is ``nn.MultiheadAttention``'s, written out so the
exported graph is plain MatMul/Softmax.

Facts (shared/MODELS.md and the authors' code at e93dec5):

- Neighbour mask: token i may not attend to the tokens of its own window, the
  ``(2·(n//2)+1)²`` cells centred on it, n = feature_size // 2 (7×7 at 224 px, 9×9 at 256, 11×11
  at 320); an additive ``-inf`` mask, a constant.
- Encoder: 4 post-norm layers (self-attention with the mask and the positional embedding added to
  queries and keys, residual, LayerNorm; FFN ReLU 1024, residual, LayerNorm), no final norm. The
  target and the prompt are encoded separately by the same layers.
- Decoder: 4 layers. The prompt stream attends to the target (masked), residual, norm1; MLP
  (ReLU), residual, norm2; the target stream attends to the prompt stream (masked), residual,
  norm3. Then a final unmasked prompt→target attention, residual, and ``decoder.norm``. The
  reconstruction is that prompt stream.
- ``decoder="v1"``: the authors' first release (commit 0ca7e76) added the MLP's output to the
  target stream instead of the target→prompt attention's (whose result was computed and dropped).
  Its checkpoints have the same keys; ``v2`` (the default) is the corrected decoder of e93dec5.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DECODERS = ("v1", "v2")


def neighbour_window(feature_size: int) -> int:
    """The authors' window for a feature grid of ``feature_size``: ``feature_size // 2``."""
    return feature_size // 2


def neighbour_mask(grid: tuple[int, int], window: tuple[int, int]) -> torch.Tensor:
    """Additive mask ``[h·w, h·w]``: ``-inf`` where the key lies within ``window // 2`` cells of the
    query along both axes (its own neighbourhood, itself included), 0 elsewhere.

    Refuses a window that would leave some token nothing to attend to.
    """
    h, w = grid
    hm, wm = window
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    near = ((ys[:, None] - ys[None, :]).abs() <= hm // 2) & ((xs[:, None] - xs[None, :]).abs() <= wm // 2)
    if bool(near.all(dim=1).any()):
        msg = f"neighbour mask: a {hm}x{wm} window covers the whole {h}x{w} grid for some token"
        raise ValueError(msg)
    return torch.zeros(h * w, h * w).masked_fill(near, float("-inf"))


class Attention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameters (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``); batch-first; dropout on the attention weights in training."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            msg = f"attention width {dim} is not a multiple of {heads} heads"
            raise ValueError(msg)
        self.heads = heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``q`` ``[B, Lq, D]``, ``k``/``v`` ``[B, Lk, D]``, additive ``mask`` ``[Lq, Lk]`` → ``[B, Lq, D]``."""
        b, lq, d = q.shape
        lk = k.shape[1]
        hd = d // self.heads
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        qh = F.linear(q, wq, bq).view(b, lq, self.heads, hd).transpose(1, 2)
        kh = F.linear(k, wk, bk).view(b, lk, self.heads, hd).transpose(1, 2)
        vh = F.linear(v, wv, bv).view(b, lk, self.heads, hd).transpose(1, 2)
        scores = (qh * (1.0 / math.sqrt(hd))) @ kh.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        attn = torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            attn = F.dropout(attn, self.dropout)
        out = (attn @ vh).transpose(1, 2).reshape(b, lq, d)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    """Post-norm self-attention layer (DETR's ``forward_post``)."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads, dropout)
        self.linear1 = nn.Linear(dim, ffn)
        self.linear2 = nn.Linear(ffn, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``[B, L, D]``, ``pos`` ``[L, D]``."""
        qk = x + pos
        x = self.norm1(x + self.drop(self.self_attn(qk, qk, x, mask)))
        return self.norm2(x + self.drop(self.linear2(self.drop(F.relu(self.linear1(x))))))


class MlpBlock(nn.Module):
    """lin1 → ReLU → lin2 (the authors' ``MLPBlock``; no dropout inside)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply."""
        return self.lin2(F.relu(self.lin1(x)))


class DecoderLayer(nn.Module):
    """Prompt stream ↔ target stream, both cross-attentions masked (see the module docstring)."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float, decoder: str = "v2") -> None:
        super().__init__()
        if decoder not in DECODERS:
            msg = f"unknown decoder {decoder!r} (expected one of {DECODERS})"
            raise ValueError(msg)
        self.decoder = decoder
        self.cross_attn_prompt_to_image = Attention(dim, heads, dropout)
        self.cross_attn_image_to_prompt = Attention(dim, heads, dropout)
        self.mlp = MlpBlock(dim, ffn)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, prompt: torch.Tensor, target: torch.Tensor, pos: torch.Tensor,
                mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt stream, target stream) → both updated."""
        attn = self.cross_attn_prompt_to_image(prompt + pos, target + pos, target, mask)
        prompt = self.norm1(prompt + self.drop(attn))
        mlp = self.mlp(prompt)
        prompt = self.norm2(prompt + self.drop(mlp))
        if self.decoder == "v2":
            update = self.cross_attn_image_to_prompt(target + pos, prompt + pos, prompt, mask)
        else:  # v1: the attention's result was dropped and the MLP's output added instead
            update = mlp
        target = self.norm3(target + self.drop(update))
        return prompt, target


class Encoder(nn.Module):
    """``layers.<i>``: post-norm encoder layers, no final norm."""

    def __init__(self, depth: int, dim: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn, dropout) for _ in range(depth))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Apply every layer."""
        for layer in self.layers:
            x = layer(x, pos, mask)
        return x


class Decoder(nn.Module):
    """``layers.<i>``, then ``final_attn_token_to_image`` (unmasked) and ``norm`` on the prompt stream."""

    def __init__(self, depth: int, dim: int, heads: int, ffn: int, dropout: float, decoder: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ffn, dropout, decoder) for _ in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, dropout)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, prompt: torch.Tensor, target: torch.Tensor, pos: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        """The reconstruction tokens ``[B, L, D]``."""
        for layer in self.layers:
            prompt, target = layer(prompt, target, pos, mask)
        prompt = prompt + self.drop(self.final_attn_token_to_image(prompt + pos, target + pos, target))
        return self.norm(prompt)


class Transformer(nn.Module):
    """``encoder`` and ``decoder``; the masks are the caller's (a buffer of the model)."""

    def __init__(self, dim: int, heads: int, ffn: int, enc_depth: int, dec_depth: int, dropout: float,
                 decoder: str) -> None:
        super().__init__()
        self.encoder = Encoder(enc_depth, dim, heads, ffn, dropout)
        self.decoder = Decoder(dec_depth, dim, heads, ffn, dropout, decoder)

    def forward(self, target: torch.Tensor, prompt: torch.Tensor, pos: torch.Tensor,
                enc_mask: torch.Tensor | None, dec_mask: torch.Tensor | None) -> torch.Tensor:
        """Target tokens ``[B, L, D]`` and prompt tokens ``[B/k, L, D]`` (tiled k times, as the authors pair a
        batch of good images and their twins with one batch of prompts) → reconstruction ``[B, L, D]``."""
        target = self.encoder(target, pos, enc_mask)
        prompt = self.encoder(prompt, pos, enc_mask)
        if prompt.shape[0] != target.shape[0]:  # training: good images, then twins, share the prompts
            if target.shape[0] % prompt.shape[0]:
                msg = f"{target.shape[0]} targets cannot share {prompt.shape[0]} prompts"
                raise ValueError(msg)
            prompt = prompt.repeat(target.shape[0] // prompt.shape[0], 1, 1)
        return self.decoder(prompt, target, pos, dec_mask)


class PositionEmbeddingLearned(nn.Module):
    """``row_embed`` / ``col_embed`` ([h, D/2] / [w, D/2]); token (y, x) gets ``[col[x], row[y]]``."""

    def __init__(self, grid: tuple[int, int], dim: int) -> None:
        super().__init__()
        self.grid = grid
        self.row_embed = nn.Embedding(grid[0], dim // 2)
        self.col_embed = nn.Embedding(grid[1], dim // 2)
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def forward(self) -> torch.Tensor:
        """``[h·w, D]`` in row-major token order."""
        h, w = self.grid
        col = self.col_embed.weight.unsqueeze(0).expand(h, w, -1)
        row = self.row_embed.weight.unsqueeze(1).expand(h, w, -1)
        return torch.cat([col, row], dim=-1).reshape(h * w, -1)
