"""Pipeline config files: TOML, ``${VAR}`` interpolation, typed sections, one-line errors.

A config is a TOML file (``pipelines/<name>.toml``) with one table per pipeline slot
(``[transport]``, ``[vad]``, ``[stt]``, ``[llm]``, ``[tts]``, ...). Each slot names its ``type``
and that type's settings. Strings may use ``${VAR}`` or ``${VAR:-default}``; variables come from
the environment, then from a ``.env`` file in the working directory. Every problem raises
:class:`ConfigError`, whose message names the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, with the file and the dotted key it is about."""

    def __init__(self, file: Path | str, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(f"config error in {where}{problem}")


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A pipeline name (``laptop``) or a path to a ``.toml`` file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise ConfigError(p, "", "file not found")
        return p
    candidate = PIPELINES_DIR / f"{name_or_path}.toml"
    if not candidate.exists():
        known = ", ".join(sorted(f.stem for f in PIPELINES_DIR.glob("*.toml")))
        raise ConfigError(candidate, "", f"no pipeline named '{name_or_path}' (known: {known})")
    return candidate


def _dotenv() -> dict[str, str]:
    path = Path.cwd() / ".env"
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def interpolate(value: Any, file: Path, key: str, env: dict[str, str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value``."""
    if isinstance(value, dict):
        return {k: interpolate(v, file, f"{key}.{k}" if key else k, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, file, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(file, key, f"environment variable {name} is not set (set it in the environment or in .env)")

    return _VAR.sub(sub, value)


def load_toml(name_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Read and interpolate a config; returns its path and its tables."""
    path = resolve_config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, "", f"invalid TOML: {e}") from None
    return path, interpolate(raw, path, "", {**_dotenv(), **os.environ})


def _check_type(value: Any, hint: Any, file: Path, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None) and value is None:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, file, key)
            except ConfigError as e:
                errors.append(e.problem)
        raise ConfigError(file, key, errors[0] if errors else "invalid value")
    if origin is Literal:
        if value not in args:
            raise ConfigError(file, key, f"must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(file, key, f"expected a list, got {value!r}")
        return [_check_type(v, args[0] if args else Any, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a table, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(file, key, f"expected a path string, got {value!r}")
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(file, key, f"expected {hint.__name__}, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(file, key, f"expected {hint.__name__}, got {value!r}")
    return value


def parse_options(cls: type[T], table: dict[str, Any], file: Path, section: str) -> T:
    """Build dataclass ``cls`` from a TOML table, naming any unknown or mistyped key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "(none)"
            raise ConfigError(file, f"{section}.{key}", f"unknown key (valid keys: {valid})")
        kwargs[key] = _check_type(value, hints[key], file, f"{section}.{key}")
    missing = [
        name for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(file, f"{section}.{missing[0]}", "required key is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(file, section, str(e)) from None
