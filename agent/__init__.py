"""The voice agent application: CLI, config, model locations, child servers and wiring."""
