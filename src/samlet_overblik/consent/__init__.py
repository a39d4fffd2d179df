"""Consent and the sharing rule: the one home of every consent decision.

    policy   the versioned sharing policy (pipelines/policy.yaml), strictly validated
    state    the registry as seen: history, every version judged at the reference time, is the registry usable
    gate     THE decision: may datum D reach department V (with its basis), and is run R closed
    lineage  the compliance report: which basis let which department see what, and when it stopped
    watcher  read-time revocations: a withdrawal hides rows at once, then consent_refresh rebuilds the exports
"""

from samlet_overblik.consent.gate import AccessResult, decide_access
from samlet_overblik.consent.policy import LegalRule, Policy, PolicyError, default_policy_path, load_policy
from samlet_overblik.consent.state import consent_staging_asset, ConsentState, check_registry, evaluate_consents, record_history, refresh_consent_state

__all__ = [
    "AccessResult", "consent_staging_asset", "ConsentState", "LegalRule", "Policy", "PolicyError",
    "check_registry", "decide_access", "default_policy_path", "evaluate_consents", "load_policy",
    "record_history", "refresh_consent_state",
]
