"""Settings of :class:`~processors.interruption.handler.InterruptionHandler`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InterruptionSettings:
    """When user speech over the bot pauses it, and when it becomes an interruption.

    Parameters:
        min_speech_secs: Speech (Silero windows above ``speech_confidence``) since the onset
            that confirms an interruption.
        min_words: Transcript words that confirm an interruption (0: words never confirm).
        confirm_timeout_secs: Speech still unconfirmed this long after its onset is let go:
            playback resumes where it paused.
        onset_confidence: Silero speech probability of a 32 ms window that counts as onset.
        onset_windows: Consecutive onset windows needed to pause playback.
        speech_confidence: Silero probability of a window that counts as speech afterwards.
        end_silence_secs: Non-speech that ends the speech (then the decision is made as soon
            as the transcript is in, or at once if the VAD never started).
        blip_secs: If no window after the onset reaches ``speech_confidence`` within this
            time, the onset was a blip (click, breath): playback resumes at once.
        echo_guard: Fallback without echo cancellation: while the bot is busy, demand louder,
            surer and longer speech, and ignore speech right after the pause (echo fading).
        echo_guard_confidence: Onset/speech probability while ``echo_guard`` applies.
        echo_guard_min_dbfs: Window level (dBFS RMS) speech must reach while it applies.
        echo_guard_min_speech_secs: ``min_speech_secs`` while it applies.
        echo_guard_min_words: ``min_words`` while it applies.
        echo_tail_secs: With ``echo_guard``, speech this soon after the pause is not counted.
        turn_end_silence_secs: When speech is confirmed only after it ended (by its words),
            the user's turn ends this long after its transcript, unless they speak again.
        response_wait_secs: After the user's turn ends, treat the bot as busy this long even
            before its answer reaches the output (covers LLM latency).
    """

    min_speech_secs: float = 0.7
    min_words: int = 2
    confirm_timeout_secs: float = 2.0
    onset_confidence: float = 0.5
    onset_windows: int = 1
    speech_confidence: float = 0.5
    end_silence_secs: float = 0.5
    blip_secs: float = 0.1
    echo_guard: bool = False
    echo_guard_confidence: float = 0.85
    echo_guard_min_dbfs: float = -26.0
    echo_guard_min_speech_secs: float = 0.6
    echo_guard_min_words: int = 3
    echo_tail_secs: float = 0.3
    turn_end_silence_secs: float = 0.3
    response_wait_secs: float = 8.0

    def __post_init__(self):
        for name in ("min_speech_secs", "confirm_timeout_secs", "end_silence_secs", "blip_secs", "response_wait_secs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("onset_confidence", "speech_confidence", "echo_guard_confidence"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.onset_windows < 1:
            raise ValueError(f"onset_windows must be >= 1, got {self.onset_windows}")
        if self.min_words < 0 or self.echo_guard_min_words < 0:
            raise ValueError("min_words must be >= 0")
