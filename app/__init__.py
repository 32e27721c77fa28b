"""Tocsin: an incident-management backend (ITIL lifecycle, SLA clocks, problems, live GraphQL)."""

__version__ = "0.1.0"
