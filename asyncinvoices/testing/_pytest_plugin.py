"""Pytest fixtures for testing code against FakeCloudflare (work in progress)."""

from __future__ import annotations

__all__: list[str] = []
