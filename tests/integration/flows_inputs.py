"""Workflows for the tests of flows_inputs (imported by the workers of the integration tests)."""

from __future__ import annotations
