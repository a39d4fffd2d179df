"""The policy file is validated on load: a typo is a one-line error naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from samlet_overblik.consent.policy import PolicyError, default_policy_path, load_policy


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = default_policy_path().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_shipped_policy_is_default_deny_with_every_legal_rule_off():
    policy = load_policy()
    assert policy.enabled_rules == ()
    assert set(policy.sensitive_categories) == {"helbred", "misbrug"}


@pytest.mark.parametrize(
    "old, new, needle, words",
    [
        ("    to: [boern_familie]\n", "    to: [boern_famile]\n", "boern_famile", "unknown department"),
        ("    categories: [indsatser, kontakt]\n", "    categories: [indsatser, kontakter]\n", "kontakter", "unknown category"),
        ("condition: child_with_open_case", "condition: child_with_open_cases", "child_with_open_cases", "unknown condition"),
        ("    categories: [indsatser, kontakt]\n", "    categories: [indsatser, helbred]\n", "[indsatser, helbred]", "sensitive"),
        ("registry_max_invalid_share: 0.01", "registry_max_invalid_shares: 0.01", "registry_max_invalid_shares", "unknown key"),
        # a boolean is not a number, a string is not a list, a list is not a string (issue 10, finding 9)
        ("registry_max_invalid_share: 0.01", "registry_max_invalid_share: true", "registry_max_invalid_share",
         "number from 0 to 1"),
        ("  purposes: [helhedsorienteret_indsats]", "  purposes: helhedsorienteret_indsats", "  purposes:", "list"),
        ("  purposes: [helhedsorienteret_indsats]", "  purposes: []", "  purposes:", "at least one"),
        ("sensitive_categories: [helbred, misbrug]", "sensitive_categories: []", "sensitive_categories:", "helbred, misbrug"),
        ("sensitive_categories: [helbred, misbrug]", "sensitive_categories: [helbred]", "sensitive_categories:", "misbrug"),
        ("sensitive_categories: [helbred, misbrug]", "sensitive_categories: helbred", "sensitive_categories:", "list"),
        ("require_custody_for_proxy: true", "require_custody_for_proxy: \"yes\"", "require_custody_for_proxy",
         "true or false"),
        ('policy_version: "2026.11-1"', "policy_version: 2026", "policy_version", "string"),
        ("  rule_id: egen_afdeling", "  rule_id: [egen_afdeling]", "rule_id", "string"),
        ("    from: [beskaeftigelse, social_voksen, boern_familie]", "    from: beskaeftigelse", "    from: beskaeftigelse",
         "list"),
        ("condition: has_coordination_plan", "condition: [has_coordination_plan]", "condition: [", "string"),
        ("departments: [boern_familie, beskaeftigelse, social_voksen, sundhed_aeldre]", "departments: boern_familie",
         "departments:", "list"),
        ("    - Akut henvendelse\n", "    - 112\n", "    - 112", "string"),
        ("    - Akut henvendelse\n", "    - Akut henvendelse 0101801234\n", "0101801234", "CPR"),
        ("    - Akut henvendelse\n", "    - Akut henvendelse\n    - Akut henvendelse  \n", "Akut henvendelse  ", "twice"),
        ("  sagsbehandler:\n", "  sagsbehandlere:\n", "sagsbehandlere", "unknown role"),
        ("lookup_purposes:\n", "lookup_purpose:\n", "lookup_purpose:", "unknown key"),
    ],
)
def test_typos_and_wrong_types_are_one_line_errors_naming_the_line(tmp_path, old, new, needle, words):
    path = _variant(tmp_path, old, new)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message and words in message, message
    assert f"line {_line_of(path, needle)}" in message, message


def test_lookup_purposes_per_role():
    policy = load_policy()
    assert "Opfølgning på indsats" in policy.lookup_purposes["sagsbehandler"]
    assert "compliance: samtykkesporing" in policy.lookup_purposes["compliance"]


def test_default_must_be_deny(tmp_path):
    with pytest.raises(PolicyError, match="default deny"):
        load_policy(_variant(tmp_path, "default: deny", "default: allow"))


def test_enabled_legal_rule_admits_under_its_condition(tmp_path):
    from consent_fixtures import add_person, add_record, decision, new_warehouse, run_consent

    path = _variant(tmp_path, "  - id: rsl_12c_helhedsorienteret\n    enabled: false", "  - id: rsl_12c_helhedsorienteret\n    enabled: true")
    policy = load_policy(path)
    con = new_warehouse()
    with_plan, without = add_person(con, "0101801111"), add_person(con, "0101801113")
    for key in (with_plan, without):
        add_record(con, f"r-{key}", key, "social_voksen", "indsatser")
    con.execute(
        "INSERT INTO staging.coordination_plans (source, source_table, record_id, person_table, person_record_id, department) "
        "VALUES ('social_voksen', 'koordinering', 'k1', 'person', ?, 'social_voksen')",
        [with_plan],
    )
    run_consent(con, policy=policy)
    assert decision(con, f"r-{with_plan}", "beskaeftigelse") == ("admitted", "lov:rsl_12c_helhedsorienteret", None)
    assert decision(con, f"r-{without}", "beskaeftigelse")[0] == "blocked"
    assert decision(con, f"r-{with_plan}", "sundhed_aeldre")[0] == "blocked"  # not a receiver of the rule
