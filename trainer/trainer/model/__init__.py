"""INP-Former in PyTorch: the encoder, the model, the reference map recipe, preprocessing.

Stable API (train, evaluate and export import from here)::

    from trainer.model import InpFormer, InpFormerConfig, RecipeConfig, Geometry
    model = InpFormer(InpFormerConfig.for_size("small"))
    out = model(images)                 # InpFormerOutput(en, de, tokens, prototypes)
    amap, score = reference(out, geometry.crop_hw, recipe)
"""

from .encoder import (
    DEFAULT_TARGET_LAYERS,
    ENCODER_SIZES,
    OFFICIAL_ENCODER_NAMES,
    DinoV2Encoder,
    EncoderConfig,
    load_dinov2_weights,
    load_tensors,
)
from .inp_former import (
    InpFormer,
    InpFormerConfig,
    InpFormerOutput,
    coherence_distance,
    coherence_loss,
    cosine,
)
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Geometry, load_image, normalize, to_uint8_crop
from .recipe import (
    RecipeConfig,
    finish_map,
    gaussian_kernel,
    grid_map,
    group_maps,
    image_score,
    map_steps,
    reference,
    score_rule,
    topk_count,
)

__all__ = [
    "DEFAULT_TARGET_LAYERS",
    "ENCODER_SIZES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OFFICIAL_ENCODER_NAMES",
    "DinoV2Encoder",
    "EncoderConfig",
    "Geometry",
    "InpFormer",
    "InpFormerConfig",
    "InpFormerOutput",
    "RecipeConfig",
    "coherence_distance",
    "coherence_loss",
    "cosine",
    "finish_map",
    "gaussian_kernel",
    "grid_map",
    "group_maps",
    "image_score",
    "load_dinov2_weights",
    "load_tensors",
    "load_image",
    "map_steps",
    "normalize",
    "reference",
    "score_rule",
    "to_uint8_crop",
    "topk_count",
]
