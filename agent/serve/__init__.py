"""``voice-agent serve``: talk to the agent from a browser (WebRTC), one pipeline per call."""
