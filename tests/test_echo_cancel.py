"""Echo safety: the bot's own voice from the speakers must not interrupt it; the user must.

Unit level: WebRTC AEC (``livekit`` APM) on synthetic echo of real Piper speech. Pipeline
level: the WAV transport feeds the bot's output back into the mic (delayed, attenuated), with
echo cancellation and without it (the bot then interrupts
itself, which shows the echo is real).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import soxr

from processors.echo_cancel.filters import EchoCanceller
from processors.interruption.settings import InterruptionSettings
from runtime.speech import speak_to_wav
from runtime.transports.wav_file import UserUtterance, read_wav_pcm16
from testing.conversation import build_conversation, measure_barge_in, run_conversation
from testing.fake_openai_server import FakeOpenAIServer, ScriptedAnswer

IN_RATE, OUT_RATE = 16000, 24000
ANSWER = (
    "The ocean covers most of our planet, and it holds a huge variety of life. Tiny plankton drift near the "
    "surface, and giant whales travel thousands of miles every year. Most of the deep sea has never been "
    "explored, and scientists still find new species there. Coral reefs, kelp forests and dark trenches "
    "are all part of this enormous blue world."
)
SHORT = "Mountains are tall and rocky."


def vad_speaking_windows(pcm: np.ndarray) -> np.ndarray:
    """pipecat's Silero VAD (default params) over 16 kHz audio: SPEAKING per 32 ms window."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADState

    vad = SileroVADAnalyzer(sample_rate=IN_RATE)
    vad.set_sample_rate(IN_RATE)
    pcm = np.clip(pcm, -32768, 32767).astype("<i2")
    return np.array([vad._run_analyzer(pcm[i : i + 512].tobytes()) == VADState.SPEAKING
                     for i in range(0, len(pcm) - 512, 512)])


def silero_confidences(pcm: np.ndarray) -> np.ndarray:
    """Silero speech probability of every 32 ms window (what ``InterruptionHandler`` acts on)."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    vad = SileroVADAnalyzer(sample_rate=IN_RATE)
    vad.set_sample_rate(IN_RATE)
    pcm = np.clip(pcm, -32768, 32767).astype("<i2")
    return np.array([float(np.ravel(vad.voice_confidence(pcm[i : i + 512].tobytes()))[0])
                     for i in range(0, len(pcm) - 512, 512)])


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-9)


@pytest.fixture(scope="module")
def echo_scene(tmp_path_factory):
    """Far end: the bot's speech at 24 kHz. Near end: its echo (80 ms, -6 dB) plus user speech at 3 s.

    Noise-free Piper, so the scene is the same on every run: with Piper's random prosody the
    words that overlap the user's onset change, and so does how much of the onset survives.
    """
    folder = tmp_path_factory.mktemp("echo_scene")
    bot_wav = speak_to_wav(ANSWER, folder / "bot.wav", varied=False)
    user_wav = speak_to_wav("Hold on, that is not what I asked.", folder / "user.wav", varied=False)
    far = np.frombuffer(read_wav_pcm16(bot_wav, OUT_RATE), "<i2").astype(np.float32)[: OUT_RATE * 7]
    user = np.frombuffer(read_wav_pcm16(user_wav, IN_RATE), "<i2").astype(np.float32)
    echo = 0.5 * soxr.resample(far, OUT_RATE, IN_RATE)
    delay = int(0.08 * IN_RATE)
    near = np.zeros(len(echo) + delay, np.float32)
    near[delay:] += echo
    near += np.random.default_rng(1).normal(0, 20, len(near))
    user_at = 3 * IN_RATE
    with_user = near.copy()
    with_user[user_at : user_at + len(user)] += user
    return far, near, with_user, (user_at, user_at + len(user))


def cancel(far: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Play ``far`` from t=0 and capture ``near`` in 20 ms mic frames through the canceller."""
    aec = EchoCanceller()
    aec.start(IN_RATE)
    out, far_step, near_step = [], int(OUT_RATE * 0.02), int(IN_RATE * 0.02)
    for k in range(len(near) // near_step):
        t = k * 0.02
        aec.reference.add(far[k * far_step : (k + 1) * far_step].astype("<i2").tobytes(), OUT_RATE, t)
        chunk = near[k * near_step : (k + 1) * near_step]
        out.append(np.frombuffer(aec.process(np.clip(chunk, -32768, 32767).astype("<i2").tobytes(), t + 0.02), "<i2"))
    return np.concatenate(out).astype(np.float32)


def test_echo_of_the_bot_is_removed_and_does_not_trigger_the_vad(echo_scene):
    far, near, _, _ = echo_scene
    assert vad_speaking_windows(near).mean() > 0.3, "the raw echo should sound like speech to the VAD"
    residual = cancel(far, near)
    settled = slice(IN_RATE, None)  # after the first second
    assert db(residual[settled]) < db(near[settled]) - 25
    assert not vad_speaking_windows(residual).any()
    # Nor does a single window reach the barge-in onset threshold once the canceller has settled.
    assert silero_confidences(residual[settled]).max() < InterruptionSettings().onset_confidence


def test_user_speech_over_the_echo_survives_cancellation(echo_scene):
    """Double talk: the canceller must leave the user's barge-in audible to what acts on it.

    Measured as in the product: ``InterruptionHandler`` pauses on one Silero window at
    ``onset_confidence`` and confirms on windows at ``speech_confidence``; the VAD's
    SPEAKING state (0.2 s of surer speech) starts the user's turn for speech-to-text. WebRTC's
    suppressor does thin double talk (the VAD misses the short "Hold on," of this scene), so
    the VAD bound is looser than the onset and speech-window bounds.
    """
    far, near, with_user, (start, end) = echo_scene
    user_alone = with_user - near
    residual = cancel(far, with_user)
    settings = InterruptionSettings()
    heard, clean = silero_confidences(residual), silero_confidences(user_alone)
    windows = np.arange(len(heard)) * 512
    in_user = (windows >= start) & (windows < end)
    outside = (windows < start - IN_RATE // 2) | (windows > end + IN_RATE // 2)

    onset_clean = windows[in_user & (clean >= settings.onset_confidence)][0]
    onset_heard = windows[in_user & (heard >= settings.onset_confidence)][0]
    assert (onset_heard - onset_clean) / IN_RATE <= 0.1, "the barge-in onset was delayed by the canceller"
    kept = (heard[in_user] >= settings.speech_confidence).sum() / (clean[in_user] >= settings.speech_confidence).sum()
    assert kept >= 0.7, f"only {kept:.0%} of the user's speech windows survived cancellation"
    assert heard[outside].max() < settings.onset_confidence

    speaking, speaking_clean = vad_speaking_windows(residual), vad_speaking_windows(user_alone)
    assert speaking[in_user].sum() >= 0.5 * speaking_clean[in_user].sum(), "the VAD lost the user's turn"
    assert not speaking[outside].any()
    # And it keeps its level (within 6 dB of the user's speech alone).
    assert db(residual[start:end]) > db(user_alone[start:end]) - 6


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.mark.e2e
# (The echo_guard fallback is not run here: with it, a Whisper segment that began on the echo can
# confirm the barge-in by its echo words and drop the user's own transcript, a known limit in the
# README; a non-strict xfail of it could not fail and cost 45 s of every suite run.)
@pytest.mark.parametrize("mode", ["aec", "unprotected"])
async def test_echo_does_not_interrupt_the_bot_but_the_user_does(mode, spoken, tmp_path):
    utterances = [UserUtterance(path=spoken("Tell me about the ocean.")),
                  UserUtterance(path=spoken("Please tell me about mountains instead."), bot_started_secs=5.0)]
    async with FakeOpenAIServer(answers=[ScriptedAnswer(ANSWER, when="ocean"), ScriptedAnswer(SHORT, when="mountain")]) as llm:
        conv = build_conversation(
            tmp_path, utterances, llm_base_url=llm.base_url, echo_gain=0.5, echo_delay_secs=0.06,
            echo_cancellation=mode == "aec",
        )
        await run_conversation(conv)
    q, barge_in = conv.transport.input().said
    records = conv.handler.records
    print(mode, "turns", conv.turns, "records", [(round(r.onset_at - q.start, 2), r.reason, r.interrupted) for r in records])
    before = [r for r in records if r.interrupted and r.onset_at < barge_in.speech_onset - 0.1]
    if mode == "unprotected":
        # The hazard the protections remove: the bot's own echo is taken for the user. Each
        # echo onset pauses the bot; whether one of those pauses also lasts long enough to
        # confirm an interruption before the user speaks depends on timing (it did in 4 of 5
        # runs here), so the control asserts the pauses.
        echo_episodes = [r for r in records if r.onset_at < barge_in.speech_onset - 0.1]
        assert len(echo_episodes) >= 3, "without protection the echo should have paused the bot"
        return
    assert not before, f"the bot's own echo interrupted it: {before}"
    assert any(r.interrupted and abs(r.onset_at - barge_in.speech_onset) < 0.3 for r in records)
    result = measure_barge_in(conv.transport.output().played, barge_in.speech_onset, barge_in.end)
    assert result.bot_audible and result.latency_ms < 300 and result.stale_ms == 0
    # The echo never became user words; the answer to the barge-in is whole.
    users = [str(m["content"]) for m in conv.context.get_messages() if m.get("role") == "user"]
    assert len(users) == 2 and "mountains" in users[1].lower()
    assert not (_words(" ".join(users)) & {"plankton", "whales", "planet", "species", "coral"})
    assistant = [str(m["content"]) for m in conv.context.get_messages() if m.get("role") == "assistant"]
    assert assistant[-1] == SHORT
