"""eco-collect: energy measurements of LLM inference on a contributor's NVIDIA GPU."""

__version__ = "0.6.0"
