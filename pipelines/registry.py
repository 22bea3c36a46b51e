"""The registry of what a config slot's ``type`` may name, and the context factories build in.

Each slot (``transport``, ``vad``, ``stt``, ``llm``, ``tts``, ...) maps type names to a
:class:`Component`: an options dataclass (the table's keys, documented defaults) and a factory.
A ``type`` may also be an import path ``"package.module:ClassName"``: the class is built with the
table's other keys as keyword arguments, so any pipecat processor can be dropped in by config.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.child_process import ManagedProcess
from runtime.model_cache import ModelCache, cached
from pipelines.config import ConfigError, parse_options
from pipelines.moved_modules import resolve_moved


@dataclass
class BuildContext:
    """What factories share: where the run writes, audio rates, child servers to start, and
    the models already loaded (``models``: ``voice-agent serve`` loads them once for every call)."""

    config_path: Path
    run_dir: Path
    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    child_processes: list[ManagedProcess] = field(default_factory=list)
    vad_analyzer: Any = None  # the [vad] analyzer, for processors that share its work
    models: ModelCache | None = None

    def model(self, key: Any, load: Callable[[], Any]) -> Any:
        """A model shared through ``models`` (loaded on first use), or ``load()`` without a cache.
        Only what is safe to share between pipelines goes here; per-call state stays out."""
        return cached(self.models, key, load)

    def add_child(self, child: ManagedProcess) -> ManagedProcess:
        """The child server a component talks to: an already running one of the same name
        (see :func:`sharing_children`), else ``child``, which the run will start and stop."""
        for running in _SHARED_CHILDREN.get():
            if running.name == child.name:
                return running
        self.child_processes.append(child)
        return child


# Child servers started once and shared by every pipeline built meanwhile (``voice-agent
# serve``: one pipeline per call, one LLM and one TTS server for all of them).
_SHARED_CHILDREN: ContextVar[tuple[ManagedProcess, ...]] = ContextVar("shared_children", default=())


@contextlib.contextmanager
def sharing_children(children: Sequence[ManagedProcess]) -> Iterator[None]:
    """Pipelines built inside use these running child servers instead of new ones of their own."""
    token = _SHARED_CHILDREN.set(tuple(children))
    try:
        yield
    finally:
        _SHARED_CHILDREN.reset(token)


@dataclass(frozen=True)
class Component:
    options: type
    factory: Callable[[Any, BuildContext], Any]
    summary: str = ""


REGISTRY: dict[str, dict[str, Component]] = {}


def register(slot: str, name: str, options: type, summary: str = ""):
    """Decorator: make ``factory(options, ctx)`` buildable as ``[slot] type = name``."""

    def wrap(factory: Callable[[Any, BuildContext], Any]):
        REGISTRY.setdefault(slot, {})[name] = Component(options, factory, summary)
        return factory

    return wrap


def _import_class(path: str, file: Path, key: str) -> type:
    """The class ``module:Class`` names; a module path from before the layout change still works."""
    module_name, _, cls_name = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as e:
        if (moved := resolve_moved(module_name)) is not None:
            try:
                return getattr(importlib.import_module(moved), cls_name)
            except (ImportError, AttributeError):
                pass
        raise ConfigError(file, key, f"cannot import '{path}': {e}") from None


def build_slot(slot: str, table: dict[str, Any] | None, ctx: BuildContext, *, default: str | None = None) -> Any:
    """Build the component a config table asks for (``None`` if the slot is absent/disabled)."""
    file = ctx.config_path
    if table is None:
        if default is None:
            return None
        table = {"type": default}
    if not isinstance(table, dict):
        raise ConfigError(file, slot, "expected a table")
    table = dict(table)
    if table.pop("enabled", True) is False:
        return None
    type_name = table.pop("type", default)
    if not isinstance(type_name, str):
        raise ConfigError(file, f"{slot}.type", "required key is missing" if type_name is None else f"expected a string, got {type_name!r}")
    if ":" in type_name:
        cls = _import_class(type_name, file, f"{slot}.type")
        try:
            return cls(**table)
        except TypeError as e:
            raise ConfigError(file, slot, f"cannot build {type_name}: {e}") from None
    choices = REGISTRY.get(slot, {})
    if type_name not in choices:
        known = ", ".join(sorted(choices)) or "(none)"
        raise ConfigError(file, f"{slot}.type", f"unknown {slot} type '{type_name}' (known: {known}, or 'module:Class')")
    component = choices[type_name]
    options = parse_options(component.options, table, file, slot)
    return component.factory(options, ctx)
