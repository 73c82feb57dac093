"""The relabel pipeline's stages, in order. Kept import-free so the DAG and CLI can read it cheaply."""

STAGES = ("ingest", "apply_lfs", "fit_label_model", "validate", "publish")
