"""The pieces :mod:`random_weights` builds random-weight models from.

``store`` (the cache folders: fingerprints, stamps, build-then-rename), ``weights`` (init-free
construction and the random fill), ``vocabularies`` (tokenizers laid out on the released ids),
``transformers_models`` and ``diffusers_models`` (one builder per model family).
"""
