"""FCNResNet (GluonCV ResNet trunk + FCN heads)."""
from __future__ import annotations

from typing import Optional

import torch.nn as nn

from . import fcn_head_name, register_mxnet_map, resnet_base_name


@register_mxnet_map("FCNResNet")
def fcn_resnet_name(name: str, model: nn.Module) -> Optional[str]:
    for prefix in ("head", "aux_head"):
        if name.startswith(prefix + "."):
            head = getattr(model, prefix, None)
            return fcn_head_name(prefix, name[len(prefix) + 1:], head) if head is not None \
                else None
    return resnet_base_name(name)
