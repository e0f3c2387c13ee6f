"""Vigil's load generator: bounded, mixed, realistic traffic for the reference backend."""
