"""chatedit's vision toolkit: grounding, segmentation, inpainting and edits, each load-once, call-many.

Importing this package is cheap and imports neither langgraph nor textual; models load on first use.
"""
