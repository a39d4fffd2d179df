"""Many municipalities on one installation: each tenant (a kommunekode) gets settings of its own, and nothing of one
tenant's — sources, warehouse, exports, users, access log — is shared with another's.

``for_tenant(settings, code)`` derives one tenant's settings from the installation's, along the one settings path:

- sources: ``<sources_dir>/<kommunekode>/<source>.sqlite`` (what ``generate --denmark`` writes), or a configured URL
  with ``{kommunekode}`` in it (``postgresql://host/kommune_{kommunekode}``), or the tenant's own
  ``SAMLET_<KOMMUNEKODE>_SOURCE_<NAME>_URL``. A configured URL without the placeholder would be every tenant's: it is
  refused;
- warehouse: ``<warehouse_root>/<kommunekode>/samlet_overblik.duckdb`` (its exports and access log beside it, as for
  one municipality; the users file is the installation's, each user naming their municipality: ``access.users``);
- policy: ``SAMLET_<KOMMUNEKODE>_POLICY_FILE``, else the installation's;
- analytics key: ``SAMLET_<KOMMUNEKODE>_ANALYTICS_KEY`` only (``unified.analytics.key_variable``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from samlet_overblik.core.municipalities import municipality
from samlet_overblik.core.settings import Settings, SettingsError
from samlet_overblik.core.vocabulary import spec_names

PLACEHOLDER = "{kommunekode}"
WAREHOUSE_FILE = "samlet_overblik.duckdb"


def tenant_variable(code: str, setting: str) -> str:
    """The environment variable of one tenant's setting: ``SAMLET_101_POLICY_FILE``."""
    return f"SAMLET_{code}_{setting.upper()}"


def warehouse_root(settings: Settings) -> Path:
    """The folder holding a folder per tenant (default: the folder of the configured warehouse)."""
    return settings.warehouse_root or settings.warehouse.parent


def installation_dir(settings: Settings) -> Path:
    """Where the installation's own files live — the users file, the log of failed logins (before a user, and so a
    municipality, is known): beside the warehouse, or with tenants at the warehouse root."""
    return warehouse_root(settings) if settings.tenants else settings.warehouse.parent


def for_tenant(settings: Settings, code: str, env: Mapping[str, str] | None = None) -> Settings:
    """Tenant ``code``'s settings (``SettingsError`` for a code the installation does not serve)."""
    env = os.environ if env is None else env
    code = municipality(code).code
    if code not in settings.tenants:
        raise SettingsError(f"kommunekode {code} is not one of this installation's tenants")
    urls = {}
    for name in spec_names():
        own = env.get(tenant_variable(code, f"source_{name}_url"))
        if own:
            urls[name] = own
        elif name in settings.source_urls:
            template = settings.source_urls[name]
            if PLACEHOLDER not in template:
                raise SettingsError(f"source {name}: with tenants its URL must hold {PLACEHOLDER} (or each tenant "
                                    f"sets {tenant_variable('KODE', f'source_{name}_url')}); one URL for all "
                                    "would mix the municipalities' data")
            urls[name] = template.replace(PLACEHOLDER, code)
    policy = env.get(tenant_variable(code, "policy_file"))
    return replace(settings, tenant=code, tenants=(), sources_dir=settings.sources_dir / code,
                   warehouse=warehouse_root(settings) / code / WAREHOUSE_FILE, source_urls=urls,
                   policy_file=Path(policy) if policy else settings.policy_file)
