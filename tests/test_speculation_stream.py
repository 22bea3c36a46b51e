"""StreamingSpeculationGate: the LLM streams a speculative answer (the playback gate holds it);
a withdrawal after some of it went out is followed by an InterruptionFrame downstream."""

from __future__ import annotations

import pytest

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.turns.speculation_gate import SpeculationGate

from processors.playback.speculation import StreamingSpeculationGate, stream_speculative_answers

DOWN = FrameDirection.DOWNSTREAM


def through(gate: SpeculationGate, *frames) -> list:
    return [f for frame in frames for f, _ in gate.process(frame, DOWN)]


def speculating() -> StreamingSpeculationGate:
    gate = StreamingSpeculationGate()
    through(gate, UserStartedSpeakingFrame())
    gate.begin_speculation(True)
    return gate


def test_a_speculative_answer_goes_through_at_once():
    gate = speculating()
    frames = [LLMFullResponseStartFrame(), LLMTextFrame("Paris"), LLMFullResponseEndFrame()]
    assert through(gate, *frames) == frames
    assert gate.is_speculating and gate.streamed
    # pipecat's own gate holds the same frames.
    stock = SpeculationGate()
    through(stock, UserStartedSpeakingFrame())
    stock.begin_speculation(True)
    assert through(stock, *frames) == []


def test_a_withdrawal_after_some_of_the_answer_went_out_interrupts_downstream():
    gate = speculating()
    through(gate, LLMFullResponseStartFrame(), LLMTextFrame("Sure"))
    cancel = EagerEndOfTurnCancelFrame()
    out = through(gate, cancel)
    assert out[0] is cancel and len(out) == 2 and isinstance(out[1], InterruptionFrame)
    assert not gate.is_speculating and not gate.streamed


@pytest.mark.parametrize("frames", [
    [],  # withdrawn before the LLM said anything
    [LLMFullResponseStartFrame(), LLMTextFrame("Sure"), UserStoppedSpeakingFrame()],  # confirmed, then a late cancel
])
def test_no_interruption_when_nothing_speculative_is_out(frames):
    gate = speculating()
    through(gate, *frames)
    cancel = EagerEndOfTurnCancelFrame()
    assert through(gate, cancel) == [cancel]


def test_an_answer_to_an_ended_turn_is_not_speculative():
    gate = StreamingSpeculationGate()
    through(gate, UserStartedSpeakingFrame(), UserStoppedSpeakingFrame())
    gate.begin_speculation(True)  # the turn ended before the inference started
    through(gate, LLMFullResponseStartFrame(), LLMTextFrame("Hi"))
    assert not gate.is_speculating and not gate.streamed


def test_stream_speculative_answers_replaces_the_llm_gate():
    from pipecat.services.openai.llm import OpenAILLMService

    llm = OpenAILLMService(api_key="unused", base_url="http://127.0.0.1:9/v1")
    stream_speculative_answers(llm)
    assert isinstance(llm._speculation_gate, StreamingSpeculationGate)
    with pytest.raises(TypeError, match="SpeculationGate"):
        stream_speculative_answers(object())
