"""Acoustic echo cancellation as a pair of pipecat transport audio filters (``filters.py``)."""

from processors._lazy import lazy_exports

_EXPORTS = {
    "echo_cancel_filters": "processors.echo_cancel.filters",
    "EchoCancelSettings": "processors.echo_cancel.filters",
    "EchoReference": "processors.echo_cancel.filters",
}
__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
