"""Vigil's reference service: AI workflows of agent steps calling simulated LLM providers."""
__version__ = "0.1.0"
