"""The sources layer: the specs (pipelines/*.yaml), reading each source into raw (ingest) and mapping raw to the
canonical model with quarantine (staging, SQL in assets/staging/)."""
