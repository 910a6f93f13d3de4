"""Doorstep: lead management for UK estate and letting agents."""

__version__ = "0.1.0"
