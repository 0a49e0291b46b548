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

from rivet_dagster.config.errors import ConfigError, ConfigErrors, KeyedError, KeyPath, format_key, line_for
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.resolved import resolve
from rivet_dagster.config.tuning import TUNING_KEYS

LOG = logging.getLogger("rivet_dagster.config")
MAX_CONFIG_BYTES = 1 << 20   # a rivet.yaml is a few KB; anything this large is a mistake or an attack
MAX_VALUES = 100_000         # values a config may stand for once its aliases are expanded
MERGE_TAG = "tag:yaml.org,2002:merge"
PLAIN_TAGS = {f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "timestamp", "map",
                                                       "seq")}
VARIABLE = re.compile(r"\$\{([^}]*)\}")


def load_config(path: str | os.PathLike, params: Mapping[str, str] | None = None) -> RivetConfig:
    """Load and validate a rivet.yaml; every problem is raised together as one `ConfigErrors`."""
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=file) from None
    return parse_config(config_text(data, file), file=file, params=params, base_dir=_folder_of(file))


def config_text(data: bytes, file: str | os.PathLike) -> str:
    """The config's bytes as text: at most MAX_CONFIG_BYTES, UTF-8, or an error naming where it is not."""
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the config is larger than {MAX_CONFIG_BYTES >> 20} MiB; a rivet.yaml is a few KB",
                          file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"the config is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column "
                          f"{column}", file=file, line=line) from None


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
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"the config is larger than {MAX_CONFIG_BYTES >> 20} MiB; a rivet.yaml is a few KB",
                          file=file)
    lines: dict[KeyPath, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=file) from None
    if node is None:
        raise ConfigError("the config is empty; it needs 'source' and 'exports'", file=file)
    data = _Builder(file, lines, {**os.environ, **(params or {})}).build(node)

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
    base_dir = Path(base_dir or file.parent).resolve()
    for i, export in enumerate(config.exports):
        if export.meta_columns.source_file:
            key = ("exports", i, "meta_columns", "source_file")
            LOG.warning(f"{file}:{line_for(lines, key)}: {format_key(key)}: ignored, as Rivet does (a database "
                        "export has no source file)")
        if export.query_file is not None:
            _check_readable(base_dir / export.query_file, error(f"cannot read query_file '{export.query_file}'",
                                                                ("exports", i, "query_file")))
    return config.model_copy(update={"base_dir": base_dir, "config_file": str(file), "key_lines": lines,
                                     "params": dict(params or {}),
                                     "resolved": resolve(config, base_dir, str(file), lines),
                                     "exports": [_with_local_path_resolved(e, base_dir) for e in config.exports]})


def _check_readable(path: Path, error: ConfigError) -> None:
    """A query_file is read when a run starts; a missing or unreadable one is a config error now."""
    try:
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{error.message} ({path}): {reason}", file=error.file, line=error.line,
                          key=error.key) from None


def _with_local_path_resolved(export: ExportConfig, base_dir: Path) -> ExportConfig:
    """A relative local destination resolves against the config file's folder, as query_file and the state store
    do, so `dagster dev`, a code server and the CLI write to the same place whatever their working directory."""
    if export.destination.type != "local":
        return export
    path = os.path.normpath(base_dir / export.destination.local_dir)
    return export.model_copy(update={"destination": export.destination.model_copy(update={"path": path})})


class _Builder:
    """Plain data from YAML nodes: each key's line recorded, `${VAR}` substituted in strings, plain YAML only.

    An alias shares the value of its anchor (built once), and merge keys (`<<: *defaults`) fill the keys a
    mapping does not set; a document whose aliases would expand beyond MAX_VALUES values is refused, so a
    "billion laughs" file fails at once instead of filling memory."""

    def __init__(self, file: Path, lines: dict, variables: Mapping[str, str]):
        self.file, self.lines, self.variables = file, lines, variables
        self.built: dict[int, Any] = {}
        self.building: set[int] = set()

    def build(self, root: yaml.Node) -> Any:
        sizes: dict[int, int] = {}
        if _expanded_size(root, sizes) > MAX_VALUES:
            raise ConfigError(f"the config's aliases expand to more than {MAX_VALUES:,} values; refused",
                              file=self.file)
        return self._value(root, ())

    def _value(self, node: yaml.Node, path: KeyPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.built:  # an alias of a node built already
            return self.built[id(node)]
        if id(node) in self.building:
            raise ConfigError("an alias refers to the value that holds it (a recursive anchor)", file=self.file,
                              line=node.start_mark.line + 1, key=format_key(path) or None)
        self.building.add(id(node))
        if node.tag not in PLAIN_TAGS:
            raise ConfigError(f"unsupported YAML tag '{node.tag}' (a rivet.yaml is plain YAML)", file=self.file,
                              line=node.start_mark.line + 1, key=format_key(path) or None)
        if isinstance(node, yaml.MappingNode):
            value = self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            value = [self._value(item, path + (i,)) for i, item in enumerate(node.value)]
        else:
            value = yaml.SafeLoader("").construct_object(node)
            if isinstance(value, str) and "${" in value and not _is_query(path):
                value = substitute(value, self.variables.get, self.file, self.lines[path], format_key(path))
        self.built[id(node)] = value
        return value

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"duplicate key '{key}'", file=self.file, line=key_node.start_mark.line + 1,
                                  key=format_key(path + (key,)))
            out[key] = self._value(value_node, path + (key,))
            self.lines[path + (key,)] = key_node.start_mark.line + 1  # the key's line, not its value's
        for source in merged:  # `<<: *anchor`: the anchor's keys this mapping does not set itself
            defaults = self._value(source, path)
            if not isinstance(defaults, dict):
                raise ConfigError("a merge key (<<) takes a mapping or a list of mappings", file=self.file,
                                  line=source.start_mark.line + 1, key=format_key(path) or None)
            out = {**defaults, **out}
        return out


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the node stands for with every alias expanded, computed once per node."""
    if id(node) not in sizes:
        sizes[id(node)] = 0  # a cycle (an alias inside its own anchor) counts once
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


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
