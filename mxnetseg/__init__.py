"""MXNetSeg: config-driven semantic segmentation, rebuilt on PyTorch."""
from .config import Config, load_config
from .models import count_parameters, create_model, list_models
from .tools.predictor import Predictor

__version__ = "0.1.0"
__all__ = ["Config", "load_config", "create_model", "list_models", "count_parameters",
           "Predictor"]
