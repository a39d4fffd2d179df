"""Data quality: Great Expectations suites (checks; expectations/*.json) and the data dictionary (dictionary)."""
