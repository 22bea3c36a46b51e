"""InterruptionHandler decisions at frame level (run_test), on real Piper speech streamed like a mic."""

from __future__ import annotations

import pytest

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from runtime.transports.wav_file import read_wav_pcm16
from processors import InterruptionHandler
from processors.interruption.frames import (
    PlaybackPauseFrame,
    PlaybackResumeFrame,
    PlaybackStateFrame,
    UserSpeechPendingFrame,
    UserSpeechRejectedFrame,
    UserWordsFrame,
)
from processors.interruption.settings import InterruptionSettings
from testing.frames import mic

RATE = 16000
CHUNK = 320  # 20 ms


def kinds(frames) -> list[type]:
    ignore = (InputAudioRawFrame, BotStartedSpeakingFrame)
    return [type(f) for f in frames if not isinstance(f, ignore)]


@pytest.fixture(scope="module")
def speech(spoken):
    def get(text: str) -> bytes:
        return read_wav_pcm16(spoken(text), RATE)

    return get


BUSY = [PlaybackStateFrame(busy=True)]


async def test_long_speech_over_the_bot_pauses_then_interrupts(speech):
    handler = InterruptionHandler()
    pcm = speech("Hold on, that is not what I asked for.")
    down, up = await run_test(handler, frames_to_send=BUSY + mic(pcm))
    seq = kinds(down)
    assert seq[:2] == [PlaybackPauseFrame, UserSpeechPendingFrame]
    assert seq[2:4] == [InterruptionFrame, ProposedUserStartedSpeakingFrame]
    assert PlaybackResumeFrame not in seq
    assert InterruptionFrame in kinds(up)  # broadcast both ways, as pipecat does
    [record] = handler.records
    assert record.interrupted and record.reason == "speech"
    # Paused within ~a window of the real onset (0.3 s into the stream), confirmed after
    # min_speech_secs of speech.
    assert record.paused_at - record.onset_at < 0.1
    assert 0.65 <= record.decided_at - record.onset_at <= 1.4


async def test_backchannel_resumes_playback_and_nothing_is_interrupted(speech):
    handler = InterruptionHandler()
    down, _ = await run_test(handler, frames_to_send=BUSY + mic(speech("Mm-hmm.")))
    seq = kinds(down)
    assert seq[:2] == [PlaybackPauseFrame, UserSpeechPendingFrame]
    assert seq[2:] == [PlaybackResumeFrame, UserSpeechRejectedFrame]
    assert InterruptionFrame not in seq and ProposedUserStartedSpeakingFrame not in seq
    [record] = handler.records
    assert not record.interrupted and record.reason == "short"


async def test_enough_transcript_words_confirm_speech_that_already_ended(speech):
    handler = InterruptionHandler(settings=InterruptionSettings(min_speech_secs=5.0))
    pcm = speech("Stop, please wait.")
    secs = len(pcm) / 2 / RATE
    marks = {0.55: [VADUserStartedSpeakingFrame()], 0.3 + secs + 0.2: [VADUserStoppedSpeakingFrame()],
             0.3 + secs + 0.4: [UserWordsFrame(text="Stop, please wait.")]}
    down, _ = await run_test(handler, frames_to_send=BUSY + mic(pcm, tail=1.0, marks=marks))
    seq = [k for k in kinds(down) if k not in (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)]
    assert seq == [PlaybackPauseFrame, UserSpeechPendingFrame, InterruptionFrame,
                   ProposedUserStartedSpeakingFrame, ProposedUserStoppedSpeakingFrame]
    assert handler.records[0].reason == "words" and handler.records[0].words == ["Stop", "please", "wait"]


async def test_one_word_transcript_is_let_go(speech):
    handler = InterruptionHandler(settings=InterruptionSettings(min_speech_secs=5.0))
    pcm = speech("Yeah.")
    secs = len(pcm) / 2 / RATE
    marks = {0.5: [VADUserStartedSpeakingFrame()], 0.3 + secs + 0.2: [VADUserStoppedSpeakingFrame()],
             0.3 + secs + 0.5: [UserWordsFrame(text="Yeah.")]}
    down, _ = await run_test(handler, frames_to_send=BUSY + mic(pcm, tail=1.0, marks=marks))
    seq = kinds(down)
    assert PlaybackResumeFrame in seq and InterruptionFrame not in seq
    assert handler.records[0].reason == "few-words"


async def test_undecided_speech_resumes_after_the_timeout(speech):
    # The VAD started but no transcript ever comes: playback must not stay paused.
    handler = InterruptionHandler(settings=InterruptionSettings(min_speech_secs=5.0, confirm_timeout_secs=1.0))
    pcm = speech("Hmm.")
    down, _ = await run_test(handler, frames_to_send=BUSY + mic(
        pcm, tail=1.5, marks={0.5: [VADUserStartedSpeakingFrame()], 1.0: [VADUserStoppedSpeakingFrame()]}))
    assert PlaybackResumeFrame in kinds(down) and InterruptionFrame not in kinds(down)
    record = handler.records[0]
    assert record.reason == "timeout" and record.decided_at - record.onset_at == pytest.approx(1.0, abs=0.1)


async def test_when_the_bot_is_idle_speech_just_opens_the_users_turn(speech):
    handler = InterruptionHandler()
    pcm = speech("What time is it?")
    down, _ = await run_test(handler, frames_to_send=mic(pcm, marks={0.5: [VADUserStartedSpeakingFrame()]}))
    seq = kinds(down)
    # The turn opens before the VAD frame reaches the STT, so its transcript belongs to it.
    assert seq == [ProposedUserStartedSpeakingFrame, VADUserStartedSpeakingFrame]
    assert not handler.records


async def test_bot_speaking_frames_make_it_busy(speech):
    handler = InterruptionHandler()
    down, _ = await run_test(handler, frames_to_send=[BotStartedSpeakingFrame()] + mic(speech("Wait, stop talking now.")))
    assert kinds(down)[:3] == [PlaybackPauseFrame, UserSpeechPendingFrame, InterruptionFrame]


async def test_echo_guard_ignores_quiet_speech_but_not_the_user(speech):
    pcm = speech("Hold on, that is not what I asked for.")
    guarded = InterruptionSettings(echo_guard=True)
    quiet = InterruptionHandler(settings=guarded)
    down, _ = await run_test(quiet, frames_to_send=BUSY + mic(pcm, gain=0.08))  # -22 dB, like speaker echo
    assert PlaybackPauseFrame not in kinds(down) and not quiet.records
    # The same attenuated speech without the guard does pause the bot.
    unguarded = InterruptionHandler()
    down, _ = await run_test(unguarded, frames_to_send=BUSY + mic(pcm, gain=0.08))
    assert PlaybackPauseFrame in kinds(down)
    loud = InterruptionHandler(settings=guarded)
    down, _ = await run_test(loud, frames_to_send=BUSY + mic(pcm))
    assert kinds(down)[:3] == [PlaybackPauseFrame, UserSpeechPendingFrame, InterruptionFrame]
    assert loud.records[0].decided_at - loud.records[0].onset_at >= 0.6 + 0.3


def test_settings_reject_nonsense():
    with pytest.raises(ValueError, match="onset_confidence"):
        InterruptionSettings(onset_confidence=1.5)
    with pytest.raises(ValueError, match="min_speech_secs"):
        InterruptionSettings(min_speech_secs=0)


async def test_turn_strategies_keep_only_speech_the_handler_let_through():
    """pipecat's user aggregator with the handler's strategies: echo and let-go speech never
    reach the context; judged speech that is confirmed does; the VAD alone opens no turn."""
    from pipecat.frames.frames import LLMContextFrame, TranscriptionFrame
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from processors.interruption.turns import handler_turn_strategies

    def said(text):
        return TranscriptionFrame(text=text, user_id="", timestamp="")

    context = LLMContext()
    strategies = handler_turn_strategies(UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.2)]))
    user = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(user_turn_strategies=strategies)).user()
    frames = [
        # The bot's echo: a VAD segment nobody opened a turn for.
        VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), SleepFrame(0.1), said("and whales travel far"),
        # A backchannel while the bot talks: judged, then let go.
        UserSpeechPendingFrame(), VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), SleepFrame(0.1),
        said("mm-hmm"), UserSpeechRejectedFrame(),
        # A barge-in confirmed by its words after it ended.
        UserSpeechPendingFrame(), VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame(), SleepFrame(0.1),
        said("stop please"), ProposedUserStartedSpeakingFrame(), ProposedUserStoppedSpeakingFrame(), SleepFrame(0.3),
    ]
    down, up = await run_test(user, frames_to_send=frames)
    messages = [m for m in context.get_messages() if m.get("role") == "user"]
    assert [m["content"] for m in messages] == ["stop please"]
    assert sum(isinstance(f, LLMContextFrame) for f in down) == 1
    # Every transcript went back up to the handler (words can confirm an interruption).
    assert [f.text for f in up if isinstance(f, UserWordsFrame)] == ["and whales travel far", "mm-hmm", "stop please"]
    assert InterruptionFrame not in kinds(down) + kinds(up)
