"""Read rivet.yaml: YAML with line numbers, `${VAR}` substitution, strict validation, precise errors."""
from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, ConfigErrors, KeyedError
from .models import ExportConfig, RivetConfig
from .tuning import TUNING_KEYS

LOG = logging.getLogger("rivet_dagster.config")
VARIABLE = re.compile(r"\$\{([^}]*)\}")
KeyPath = tuple  # ("exports", 2, "destination", "bucket")


def load_config(path: str | os.PathLike, params: Mapping[str, str] | None = None) -> RivetConfig:
    """Load and validate a rivet.yaml; every problem is raised together as one `ConfigErrors`."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=file) from None
    return parse_config(text, file=file, params=params, base_dir=_folder_of(file))


def _folder_of(file: Path) -> Path:
    """Where a config's relative paths resolve: its folder. A config piped in (/dev/stdin from a pipe, a
    process substitution) has none: the working directory; /dev/stdin redirected from a file: that file's."""
    if not file.is_file():
        return Path.cwd()
    return file.resolve().parent if str(file).startswith(("/dev/", "/proc/")) else file.parent


def parse_config(text: str, *, file: str | os.PathLike = "rivet.yaml", params: Mapping[str, str] | None = None,
                 base_dir: str | os.PathLike | None = None) -> RivetConfig:
    """`base_dir` is where relative paths resolve (default: the config file's folder)."""
    file = Path(file)
    lines: dict[KeyPath, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=file,
                          line=mark.line + 1 if mark else None) from None
    if node is None:
        raise ConfigError("the config is empty; it needs 'source' and 'exports'", file=file)
    data = _to_python(node, (), lines, file, {**os.environ, **(params or {})})

    def error(message: str, key_path: KeyPath) -> ConfigError:
        return ConfigError(message, file=file, line=line_for(lines, key_path), key=format_key(key_path))

    if not isinstance(data, dict):
        raise error("the config must be a mapping with 'source' and 'exports'", ())
    problems = _misplaced_tuning(data, error)
    if problems:
        raise ConfigErrors(problems)
    try:
        config = RivetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors([error(*_describe(item)) for item in exc.errors()]) from None
    for i, export in enumerate(config.exports):
        if export.meta_columns.source_file:
            key = ("exports", i, "meta_columns", "source_file")
            LOG.warning(f"{file}:{line_for(lines, key)}: {format_key(key)}: ignored, as Rivet does (a database "
                        "export has no source file)")
    base_dir = Path(base_dir or file.parent).resolve()
    return config.model_copy(update={"base_dir": base_dir, "config_file": str(file), "key_lines": lines,
                                     "params": dict(params or {}),
                                     "exports": [_with_local_path_resolved(e, base_dir) for e in config.exports]})


def _with_local_path_resolved(export: ExportConfig, base_dir: Path) -> ExportConfig:
    """A relative local destination resolves against the config file's folder, as query_file and the state store
    do, so `dagster dev`, a code server and the CLI write to the same place whatever their working directory."""
    if export.destination.type != "local":
        return export
    path = os.path.normpath(base_dir / export.destination.local_dir)
    return export.model_copy(update={"destination": export.destination.model_copy(update={"path": path})})


def format_key(key_path: KeyPath) -> str:
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _to_python(node: yaml.Node, path: KeyPath, lines: dict, file: Path, variables: Mapping[str, str]) -> Any:
    """Build plain data from YAML nodes, recording each key's line and substituting `${VAR}` in strings."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", file=file, line=key_node.start_mark.line + 1,
                                  key=format_key(path + (key,)))
            out[key] = _to_python(value_node, path + (key,), lines, file, variables)
            lines[path + (key,)] = key_node.start_mark.line + 1  # the key's line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), lines, file, variables) for i, item in enumerate(node.value)]
    value = yaml.SafeLoader("").construct_object(node)
    if isinstance(value, str) and "${" in value and not _is_query(path):
        value = substitute(value, lambda name: variables.get(name), file, lines[path], format_key(path))
    return value


def _is_query(path: KeyPath) -> bool:
    """An export's query keeps its `${KEY}`s until a run fills them (run params, then the environment)."""
    return len(path) == 3 and path[0] == "exports" and path[2] == "query"


def substitute(text: str, lookup, file: Path | None, line: int | None, key: str) -> str:
    """Replace every `${NAME}` by `lookup(NAME)`; a name it cannot resolve is an error at `key`."""
    def replace(match: re.Match) -> str:
        name = match.group(1).strip()
        value = lookup(name)
        if value is None:
            raise ConfigError(f"variable '${{{name}}}' is not set (pass it as a run param or set the environment "
                              "variable)", file=file, line=line, key=key)
        return value

    return VARIABLE.sub(replace, text)


def _misplaced_tuning(data: dict, error) -> list[ConfigError]:
    """Rivet's friendliest error: tuning keys written directly under `source` or an export."""
    found = []
    source = data.get("source")
    if isinstance(source, dict):
        keys = [k for k in source if k in TUNING_KEYS]
        if keys:
            found.append(error(f"field(s) {keys} belong under 'source.tuning:', not directly under 'source:'. "
                               f"Example:\n  source:\n    tuning:\n      {keys[0]}: ...", ("source", keys[0])))
    for i, export in enumerate(data.get("exports") or []):
        if isinstance(export, dict):
            keys = [k for k in export if k in TUNING_KEYS]
            if keys:
                found.append(error(f"export '{export.get('name', i)}' (index {i}): field(s) {keys} belong under "
                                   f"'exports[].tuning:', not directly in the export. Example:\n  tuning:\n"
                                   f"    {keys[0]}: ...", ("exports", i, keys[0])))
    return found


def _describe(item: dict) -> tuple[str, KeyPath]:
    """Turn one pydantic error into (message, key path), adding the offending sub-key and a suggestion."""
    loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))  # drop union tags
    cause = (item.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedError):
        extra = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", cause.key) if p)
        return str(cause), loc + extra
    kind = item["type"]
    if kind == "extra_forbidden":
        known = _field_names(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(known))}"
        return f"unknown key '{loc[-1]}'{hint}", loc
    if kind == "missing":
        return "missing required key", loc
    return item["msg"].removeprefix("Value error, "), loc


def _field_names(loc: KeyPath) -> list[str]:
    """The valid keys of the model found at `loc` inside RivetConfig."""
    model: Any = RivetConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [name for name, f in model.model_fields.items() if not f.exclude]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def line_for(lines: dict[KeyPath, int], key_path: KeyPath) -> int | None:
    """The line of the key, or of its nearest ancestor that exists in the file (for missing keys)."""
    for end in range(len(key_path), -1, -1):
        if key_path[:end] in lines:
            return lines[key_path[:end]]
    return None
