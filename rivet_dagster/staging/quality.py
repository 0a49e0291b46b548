"""`quality:` gates, measured on the batches as they are staged and judged before anything is committed:
a failing gate fails the materialization with nothing uploaded, no manifest and no cursor move.

Row-count gates apply to empty results too; null ratios are counted per batch; uniqueness spills to disk in
hash buckets (`uniqueness.py`), so its memory stays bounded whatever the column's size."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from rivet_dagster.config.errors import ConfigError
from rivet_dagster.config.sections import QualityConfig
from rivet_dagster.staging.uniqueness import UniquenessSpill


class QualityConfigError(ConfigError):
    """A gate names a column the query does not return."""


@dataclass
class QualityResult:
    failures: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


class QualityGate:
    def __init__(self, quality: QualityConfig, spill_dir: Path):
        self.quality = quality
        self.rows = 0
        self.nulls = dict.fromkeys(quality.null_ratio_max, 0)
        self.spills = {column: UniquenessSpill(column, spill_dir) for column in quality.unique_columns}
        self._columns_checked = False

    def update(self, batch: pa.RecordBatch) -> None:
        if not self._columns_checked:
            self._check_columns(batch.schema.names)
        self.rows += batch.num_rows
        for column in self.nulls:
            self.nulls[column] += batch.column(column).null_count
        for column, spill in self.spills.items():
            spill.add(batch.column(column))

    def _check_columns(self, names: list[str]) -> None:
        for key, columns in (("null_ratio_max", self.nulls), ("unique_columns", self.spills)):
            missing = [c for c in columns if c not in names]
            if missing:
                raise QualityConfigError(f"quality.{key}: column(s) {', '.join(missing)} not in the query's result "
                                         f"(columns: {', '.join(names)})")
        self._columns_checked = True

    def evaluate(self) -> QualityResult:
        result = QualityResult(metadata={"row_count": self.rows})
        q = self.quality
        if q.row_count_min is not None and self.rows < q.row_count_min:
            result.failures.append(f"row_count {self.rows} below minimum {q.row_count_min}")
        if q.row_count_max is not None and self.rows > q.row_count_max:
            result.failures.append(f"row_count {self.rows} exceeds maximum {q.row_count_max}")
        for column, nulls in self.nulls.items():
            ratio = nulls / self.rows if self.rows else 0.0
            result.metadata[f"null_ratio.{column}"] = round(ratio, 6)
            if ratio > q.null_ratio_max[column]:
                result.failures.append(f"null ratio of '{column}' is {ratio:.4f} ({nulls} of {self.rows} rows), "
                                       f"above {q.null_ratio_max[column]} by {ratio - q.null_ratio_max[column]:.4f}")
        for column, spill in self.spills.items():
            duplicated, example = spill.duplicates()
            result.metadata[f"duplicated_values.{column}"] = duplicated
            if duplicated:
                result.failures.append(f"'{column}' is not unique: {duplicated} value(s) occur more than once "
                                       f"(e.g. {example!r})")
        if result.failures:
            result.metadata["failures"] = list(result.failures)
        return result


def combined(results: list[QualityResult], keys: list[str | None]) -> QualityResult:
    """One result for a run that staged several partitions: failures and figures prefixed by partition."""
    if len(results) == 1:
        return results[0]
    merged = QualityResult()
    for key, result in zip(keys, results):
        merged.failures += [f"{key}: {failure}" for failure in result.failures]
        merged.metadata.update({f"{key}.{name}": value for name, value in result.metadata.items() if name != "failures"})
    if merged.failures:
        merged.metadata["failures"] = list(merged.failures)
    return merged
