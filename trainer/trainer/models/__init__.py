"""One package per model architecture; ``trainer/registry.py`` says which and what each provides.

- ``inp_former/``: INP-Former (registry key ``inp-former``).
"""
