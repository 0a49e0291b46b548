"""The names one config's definitions register: resource keys, the catch-all job, the sensors, the asset group and
the source's pool.

Several configs merge into one code location (`Definitions.merge`), so each config's names carry its own name:
`name:` in the config, else the config file's name (its folder's for the conventional `rivet.yaml`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from rivet_dagster.config.models import RivetConfig

DESTINATION_TYPES = ("local", "s3", "gcs", "stdout")
SOURCE_TAG = "rivet/source"  # on every export asset, and on the runs the project launches (jobs, automation, sensors)


def config_name(config: RivetConfig) -> str:
    if config.name:
        return config.name
    stem = slug(Path(config.config_file or "rivet.yaml").stem)
    if stem in ("rivet", "stdin", ""):
        stem = slug(config.base_dir.name)
    return stem or "rivet"


def source_database(config: RivetConfig) -> str | None:
    """The database the config states (an env var or file URL is not read for a label)."""
    source = config.source
    if source.url:
        try:
            return make_url(source.url).database
        except Exception:
            return None
    return source.database


def source_group(config: RivetConfig) -> str:
    """`<type>_<database>`."""
    database = source_database(config)
    name = Path(database).stem if database else ""
    return re.sub(r"\W", "_", f"{config.source.type}_{name}" if name else config.source.type)


def slug(text: str) -> str:
    return re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_")


@dataclass(frozen=True)
class DefinitionNames:
    config: str
    group: str                # the source's asset group, `<type>_<database>`
    database: str | None      # as the config states it (MySQL's default schema)

    @classmethod
    def of(cls, config: RivetConfig, name: str | None = None) -> DefinitionNames:
        return cls(name or config_name(config), source_group(config), source_database(config))

    @property
    def source_tags(self) -> dict[str, str]:
        return {SOURCE_TAG: self.group}

    @property
    def source_pool(self) -> str:
        """The pool every run reading this source takes."""
        return f"rivet_{self.group}"

    @property
    def source(self) -> str:
        return f"rivet_{self.config}_source"

    @property
    def state(self) -> str:
        return f"rivet_{self.config}_state"

    @property
    def notifier(self) -> str:
        return f"rivet_{self.config}_notifier"

    def io_manager(self, destination_type: str) -> str:
        """One IO manager per destination type, so the UI shows where an export goes."""
        return f"rivet_{self.config}_{destination_type}_io"

    @property
    def exports_job(self) -> str:
        return f"rivet_{self.config}_exports"

    @property
    def failure_sensor(self) -> str:
        return f"rivet_{self.config}_slack_on_failure"

    @property
    def automation_sensor(self) -> str:
        return f"rivet_{self.config}_automation"

    @property
    def crashed_runs_sensor(self) -> str:
        return f"rivet_{self.config}_crashed_runs"
