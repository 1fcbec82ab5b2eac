"""linewatch trainer: anomaly models in PyTorch (one package per architecture under ``models/``,
looked up in ``registry.py``), exported as model bundles the runtime runs.

Commands: ``python3 -m trainer {synth,train,eval,export,import-official,fixtures} --help``.
"""

__version__ = "0.1.0"
