"""What every layer shares: the one settings path, the data folders, the warehouse's published sets, the CPR rule
and the vocabulary (sources, departments, categories) read from the specs and the policy."""
