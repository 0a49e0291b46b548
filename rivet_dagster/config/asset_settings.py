"""The `dagster:` block: Dagster's asset attributes, by Dagster's names, for every export (at the top of the config,
or in a `RivetExports` component's `translation:`) or for one (in the export). Tags merge, the rest replace, as in a
dg component's `translation`.

```yaml
dagster:
  key_prefix: [warehouse]            # asset key warehouse/<export>
  group_name: exports                # default: the source's group, <type>_<database>
  owners: [team:data, ana@example.com]
  tags: {tier: gold}
  kinds: [postgres, parquet]         # default: the engine and the format
  automation_condition: {on_cron: "0 6 * * *"}    # or: eager, on_missing
  freshness_policy: {deadline_cron: "0 7 * * *", lower_bound_delta: 1h}   # or: {fail_window: 1d, warn_window: 12h}
  deps: [postgres_shop/public/orders, raw/fx_rates]   # default: the tables the query reads
```
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field, field_validator, model_validator

from rivet_dagster.config.errors import KeyedError
from rivet_dagster.config.sections import Strict, known_zone

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
MERGED = ("tags",)   # merged key by key; every other attribute replaces
AUTOMATION_NAMES = {"eager": dg.AutomationCondition.eager, "on_missing": dg.AutomationCondition.on_missing}


def duration(value: str | int | float, key: str) -> timedelta:
    """`90`, `90s`, `15m`, `6h`, `1d`, `2w`: seconds unless a unit is given."""
    match = DURATION.match(str(value))
    if not match:
        raise KeyedError(key, f"'{value}' is not a duration (examples: 3600, 90s, 15m, 6h, 1d)")
    return timedelta(seconds=float(match.group(1)) * DURATION_UNITS[match.group(2)])


def valid_cron(expression: str) -> bool:
    """What Dagster's ScheduleDefinition accepts (its own check, through its public API)."""
    try:
        dg.ScheduleDefinition(name="cron_probe", cron_schedule=expression, job_name="cron_probe")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


class CronCondition(Strict):
    cron_schedule: str
    cron_timezone: str = "UTC"

    @field_validator("cron_schedule")
    @classmethod
    def _cron(cls, value: str):
        if not valid_cron(value):
            raise ValueError(f"'{value}' is not a valid cron expression (e.g. '0 6 * * *')")
        return value

    @field_validator("cron_timezone")
    @classmethod
    def _zone(cls, value: str):
        return known_zone(value)


class FreshnessSettings(Strict):
    """FreshnessPolicy.cron (`deadline_cron`, `lower_bound_delta`, `timezone`) or .time_window (`fail_window`,
    `warn_window`); durations as in `duration`."""
    deadline_cron: str | None = None
    lower_bound_delta: str | int | float | None = None
    timezone: str = "UTC"
    fail_window: str | int | float | None = None
    warn_window: str | int | float | None = None

    @field_validator("deadline_cron")
    @classmethod
    def _cron(cls, value: str | None):
        return CronCondition(cron_schedule=value).cron_schedule if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str):
        return known_zone(value)

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.deadline_cron is None) == (self.fail_window is None):
            raise KeyedError("deadline_cron", "give either deadline_cron (with lower_bound_delta) or fail_window")
        if self.deadline_cron is not None and self.lower_bound_delta is None:
            raise KeyedError("lower_bound_delta", "deadline_cron needs lower_bound_delta (how old the data may be "
                                                  "at the deadline)")
        self.policy()  # the durations parse
        return self

    def policy(self) -> dg.FreshnessPolicy:
        if self.deadline_cron is not None:
            return dg.FreshnessPolicy.cron(deadline_cron=self.deadline_cron, timezone=self.timezone,
                                           lower_bound_delta=duration(self.lower_bound_delta, "lower_bound_delta"))
        return dg.FreshnessPolicy.time_window(
            fail_window=duration(self.fail_window, "fail_window"),
            warn_window=duration(self.warn_window, "warn_window") if self.warn_window is not None else None)


class AssetSettings(Strict):
    key_prefix: str | list[str] | None = None
    group_name: str | None = None
    owners: list[str] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    kinds: list[str] | None = None
    # eager | on_missing | {on_cron: "<cron>"} | {on_cron: {cron_schedule, cron_timezone}}; or the
    # AutomationCondition a dg component's template built (`{{ automation_condition.on_cron('@daily') }}`)
    automation_condition: Any = None
    freshness_policy: FreshnessSettings | None = None
    deps: list[str] | None = None   # asset keys as `a/b/c`; replace the tables parsed from the query

    @field_validator("key_prefix")
    @classmethod
    def _prefix_parts(cls, value: str | list[str] | None):
        return [value] if isinstance(value, str) else value

    @field_validator("automation_condition")
    @classmethod
    def _condition_shape(cls, value: Any):
        if isinstance(value, dict) and set(value) == {"on_cron"}:
            cron = value["on_cron"]
            if isinstance(cron, str) and not valid_cron(cron):
                raise KeyedError("on_cron", f"'{cron}' is not a valid cron expression (e.g. '0 6 * * *')")
            return {"on_cron": CronCondition(cron_schedule=cron) if isinstance(cron, str) else CronCondition(**cron)}
        if value is None or isinstance(value, dg.AutomationCondition) or (isinstance(value, str) and
                                                                          value in AUTOMATION_NAMES):
            return value
        raise ValueError("automation_condition must be eager, on_missing or {on_cron: '<cron>'}")

    @model_validator(mode="after")
    def _dagster_accepts(self):
        """Dagster's own checks of each attribute (owner and tag syntax, group names), reported at the key."""
        probes = {"key_prefix": {"key": [*(self.key_prefix or []), "probe"]},
                  "group_name": {"group_name": self.group_name}, "owners": {"owners": self.owners},
                  "tags": {"tags": self.tags}, "kinds": {"kinds": set(self.kinds or ())},
                  "automation_condition": {"automation_condition": self.condition()}}
        for key, attributes in probes.items():
            try:
                dg.AssetSpec(**{"key": "probe", **attributes})
            except (dg.DagsterInvalidDefinitionError, dg.DagsterInvariantViolationError, ValueError) as exc:
                raise KeyedError(key, str(exc).splitlines()[0]) from None
        return self

    def dep_keys(self) -> list[dg.AssetKey] | None:
        return [dg.AssetKey.from_user_string(dep) for dep in self.deps] if self.deps is not None else None

    def condition(self) -> dg.AutomationCondition | None:
        condition = self.automation_condition
        if condition is None or isinstance(condition, dg.AutomationCondition):
            return condition
        if isinstance(condition, str):
            return AUTOMATION_NAMES[condition]()
        cron = condition["on_cron"]
        return dg.AutomationCondition.on_cron(cron.cron_schedule, cron.cron_timezone)

    def over(self, base: AssetSettings | None) -> AssetSettings:
        """These settings applied over `base`: tags merge, every other attribute set here replaces base's."""
        if base is None:
            return self
        given = {name: getattr(self, name) for name in self.model_fields_set}
        merged = {name: {**getattr(base, name), **getattr(self, name)} for name in MERGED}
        return base.model_copy(update={**given, **merged})
