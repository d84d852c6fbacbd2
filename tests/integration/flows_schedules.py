"""Workflows for the tests of flows_schedules (imported by the workers of the integration tests)."""

from __future__ import annotations
