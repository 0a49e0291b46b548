"""rivet.yaml: models, loader and errors."""
from .errors import ConfigError, ConfigErrors
from .loader import load_config, parse_config
from .models import DestinationConfig, ExportConfig, RivetConfig, SourceConfig
from .tuning import EffectiveTuning

__all__ = ["ConfigError", "ConfigErrors", "DestinationConfig", "EffectiveTuning", "ExportConfig", "RivetConfig",
           "SourceConfig", "load_config", "parse_config"]
