"""FCNResNet (GluonCV ResNet trunk + FCN heads)."""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import fcn_heads_key, register_mxnet_map, resnet_base_name


@register_mxnet_map("FCNResNet")
def fcn_resnet_name(name: str, model: nn.Module) -> Optional[str]:
    handled, ours = fcn_heads_key(name, model, ("head", "aux_head"))
    return ours if handled else resnet_base_name(name)
