"""samlet_overblik: one cross-sector view of a citizen's interventions, within consent."""

__version__ = "0.1.0"

# Sources, departments and categories are not written here: ``vocabulary`` reads them from the specs and the policy.
