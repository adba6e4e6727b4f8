"""eco-validate: the gate every submission passes before it enters the dataset."""

__version__ = "0.1.0"
