"""Pipeline configs (``*.toml``) and the builder that turns one into a pipecat pipeline."""

from pipelines.builder import BuiltPipeline, build_pipeline

__all__ = ["BuiltPipeline", "build_pipeline"]
