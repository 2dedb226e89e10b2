"""Texts printed by `crmctl help TOPIC`. Each is a section of the README, word for word
(tests/test_help_texts.py checks that they agree)."""

from __future__ import annotations

from importlib import resources

TOPICS = {"filters": "filters.md", "flows": "flows.md"}


def text(topic: str) -> str:
    return resources.files(__name__).joinpath(TOPICS[topic]).read_text(encoding="utf-8")
