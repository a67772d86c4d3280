"""Wiring: configuration, logging, clocks and the processes that run everything."""
