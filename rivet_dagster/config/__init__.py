"""rivet.yaml: models, loader and errors."""
from rivet_dagster.config.errors import ConfigError, ConfigErrors
from rivet_dagster.config.loader import load_config, parse_config
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.sections import DestinationConfig, SourceConfig
from rivet_dagster.config.tuning import EffectiveTuning

__all__ = ["ConfigError", "ConfigErrors", "DestinationConfig", "EffectiveTuning", "ExportConfig", "RivetConfig",
           "SourceConfig", "load_config", "parse_config"]
