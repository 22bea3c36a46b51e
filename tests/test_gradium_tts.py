"""GradiumTTSService against the real local Gradium-compatible server (Piper) on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
)
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

from processors.gradium.request import GradiumRequestInfo
from processors.gradium.tts import GradiumTTSService
from processors.phrase.aggregator import PhraseFrame
from runtime.tts_server import TTSServer
from testing.frames import STORY_SENTENCES, answer, wait_until
from testing.probe import PipelineProbe

TIMEOUT = 60
LONG_ANSWER = STORY_SENTENCES
# Piper speaks about 15 characters a second; 20 a second is a safe lower bound.
LONG_ANSWER_MIN_SECONDS = sum(len(s) for s in LONG_ANSWER) / 20


@pytest.fixture
async def server(tts_server):
    return tts_server


def request_events(tts: GradiumTTSService) -> list[GradiumRequestInfo]:
    infos: list[GradiumRequestInfo] = []

    @tts.event_handler("on_request_started")
    async def _on_request(service, info):
        infos.append(info)

    return infos


def server_request(server: TTSServer, index: int = -1):
    return list(server.stats.requests.values())[index]


@pytest.mark.parametrize("pipeline_rate,wire_format", [(24000, "pcm_24000"), (22050, "pcm_24000"), (16000, "pcm_16000")])
async def test_full_answer_audio_has_the_duration_the_server_synthesized(server, pipeline_rate, wire_format):
    tts = GradiumTTSService(url=server.url)
    async with PipelineProbe(tts, sample_rate=pipeline_rate) as probe:
        assert tts.output_format == wire_format
        await probe.push(*answer("Hello there,", "how are you today?", "I hope you are well."))
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
        frames = probe.audio()
    synthesized = server_request(server)
    assert synthesized.state == "completed"
    assert frames and all(f.sample_rate == pipeline_rate and f.num_channels == 1 for f in frames)
    # Every synthesized second arrives, at the pipeline's rate (resampled when it differs).
    assert probe.seconds(frames) == pytest.approx(synthesized.audio_seconds, abs=0.02)
    assert synthesized.audio_seconds > 2.0  # three phrases of speech, not a blip
    assert probe.errors() == []
    assert tts.stats.answers_completed == 1


async def test_spoken_words_reach_the_context_without_the_flush_marker(server):
    tts = GradiumTTSService(url=server.url)
    async with PipelineProbe(tts) as probe:
        await probe.push(*answer("Hello there,", "how are you <flush>today?"))
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
    words = [r.frame for r in probe.down.records if isinstance(r.frame, TTSTextFrame)]
    assert " ".join(w.text for w in words) == "Hello there, how are you today?"
    assert all(w.append_to_context and w.pts is not None for w in words)
    # Word times follow the audio: strictly increasing presentation times.
    pts = [w.pts for w in words]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    texts = [getattr(r.frame, "text", "") for r in probe.down.records]
    assert not any("<flush>" in t for t in texts if isinstance(t, str))


async def test_interruption_closes_the_socket_and_the_next_answer_uses_the_open_spare(server):
    tts = GradiumTTSService(url=server.url)
    infos = request_events(tts)
    async with PipelineProbe(tts) as probe:
        await wait_until(lambda: tts.spare_socket is not None)
        first_socket = tts.spare_socket
        await probe.push(*answer(*LONG_ANSWER))
        await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)
        old = server_request(server)
        assert infos[0].socket_id == first_socket.id and not infos[0].waited_for_handshake

        # The spare for the next answer was opened in the background when this one started.
        await wait_until(lambda: tts.spare_socket is not None)
        spare = tts.spare_socket
        assert spare.id != first_socket.id

        await probe.push(InterruptionFrame())
        mark = (await probe.down.wait_for(lambda f: isinstance(f, InterruptionFrame))).index
        await wait_until(lambda: first_socket.closed_at is not None, timeout=5)
        assert first_socket.closed_by_client
        await wait_until(lambda: old.state == "cancelled", timeout=5)
        sent_at_close = old.audio_seconds_sent
        await asyncio.sleep(0.5)
        # The server stopped: nothing more was sent for the interrupted answer...
        assert old.audio_seconds_sent == sent_at_close
        assert old.audio_seconds < 0.5 * LONG_ANSWER_MIN_SECONDS  # well short of the whole answer
        # ...and nothing of it came out of the service after the interruption.
        old_context = infos[0].context_id
        assert not [f for f in probe.audio(after=mark) if f.context_id == old_context]

        mark = len(probe.down.records)
        await probe.push(*answer("Sure, I will stop.", "What else can I do?"))
        await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=TIMEOUT)
        second = infos[1]
        assert second.socket_id == spare.id  # the socket that was already open
        assert not second.waited_for_handshake and second.socket_age_secs > 0
        assert probe.seconds(probe.audio(after=mark)) == pytest.approx(server_request(server).audio_seconds, abs=0.02)
    assert tts.stats.handshakes_on_critical_path == 0
    assert tts.stats.sockets_closed_on_interruption == 1
    assert probe.errors() == []


async def test_multiplex_mode_shares_one_socket_and_drops_cancelled_audio(server):
    tts = GradiumTTSService(url=server.url, settings=GradiumTTSService.Settings(multiplex=True))
    infos = request_events(tts)
    connections_before = server.stats.connections_total
    async with PipelineProbe(tts) as probe:
        await probe.push(*answer(*LONG_ANSWER[:4]))
        await probe.down.wait_for(TTSAudioRawFrame, timeout=TIMEOUT)
        await probe.push(InterruptionFrame())
        mark = (await probe.down.wait_for(lambda f: isinstance(f, InterruptionFrame))).index
        await probe.push(*answer("Okay.", "Stopping now."))
        await probe.down.wait_for(LLMFullResponseEndFrame, after=mark, timeout=TIMEOUT)
        # The server finishes the cancelled request; its audio is dropped by id.
        await wait_until(lambda: server_request(server, -2).state != "active")
    assert infos[0].socket_id == infos[1].socket_id
    assert server.stats.connections_total - connections_before == 1
    after = probe.audio(after=mark)
    assert after and all(f.context_id == infos[1].context_id for f in after)
    assert tts.stats.audio_seconds_dropped > 0
    assert probe.errors() == []


async def test_plain_llm_text_and_speak_frames_work_like_a_stock_tts(server):
    tts = GradiumTTSService(url=server.url)
    async with PipelineProbe(tts) as probe:
        tokens = ["Hi", " there", ".", " This", " is", " a", " plain", " token", " stream", "."]
        await probe.push(LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in tokens], LLMFullResponseEndFrame())
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
        words = [r.frame.text for r in probe.down.records if isinstance(r.frame, TTSTextFrame)]
        assert " ".join(words) == "Hi there. This is a plain token stream."
        mark = len(probe.down.records)
        await probe.push(TTSSpeakFrame("Goodbye for now."))
        await probe.down.wait_for(TTSStoppedFrame, after=mark, timeout=TIMEOUT)
        assert probe.seconds(probe.audio(after=mark)) == pytest.approx(server_request(server).audio_seconds, abs=0.02)
    assert tts.stats.answers_completed == 2
    assert not [r for r in probe.up.records if isinstance(r.frame, ErrorFrame)]


async def test_socket_is_open_when_the_pipeline_starts_before_any_llm_output(server):
    tts = GradiumTTSService(url=server.url)
    connections_before = server.stats.connections_total
    async with PipelineProbe(tts) as probe:
        await wait_until(lambda: tts.spare_socket is not None, timeout=5)
        assert server.stats.connections_total == connections_before + 1
        assert probe.audio() == []
        start = time.monotonic()
        infos = request_events(tts)
        await probe.push(LLMFullResponseStartFrame())
        # setup goes out as soon as the answer starts, before any text.
        await wait_until(lambda: infos and server_request(server).request_id and server_request(server).text_chars == 0)
        assert server_request(server).state == "active"
        assert time.monotonic() - start < 2
        await probe.push(PhraseFrame(text="Ready.", text_type="sentence", flush=True), LLMFullResponseEndFrame())
        await probe.down.wait_for(LLMFullResponseEndFrame, timeout=TIMEOUT)
    assert tts.stats.handshakes_on_critical_path == 0


class PacedSpeaker(BaseOutputTransport):
    """An output transport with no device that plays audio in real time, like a sound card."""

    def __init__(self):
        super().__init__(TransportParams(audio_out_enabled=True))
        self._next = 0.0

    async def start(self, frame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame) -> bool:
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + len(frame.audio) / 2 / self.sample_rate
        await asyncio.sleep(start - now)
        return True


async def test_only_words_actually_spoken_before_a_barge_in_reach_the_assistant_context(server):
    tts = GradiumTTSService(url=server.url)
    context = LLMContext()
    assistant = LLMContextAggregatorPair(context).assistant()
    async with PipelineProbe(tts, PacedSpeaker(), assistant) as probe:
        await probe.push(*answer(*LONG_ANSWER))
        started = await probe.down.wait_for(BotStartedSpeakingFrame, timeout=TIMEOUT)
        await asyncio.sleep(2.0 - (time.monotonic() - started.at))  # two seconds are heard
        await probe.push(InterruptionFrame())
        await wait_until(lambda: context.get_messages())
    [message] = context.get_messages()
    said = message["content"]
    full = " ".join(LONG_ANSWER)
    # Received audio runs far ahead of playback; the context has what was played: ~2 s of words.
    assert said and full.startswith(said.rstrip(".,")), said
    assert 2 <= len(said.split()) <= 12
    assert "<flush>" not in said
