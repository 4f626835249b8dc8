"""The simulated tenant of the shipped connector: what `lmsbridge demo` connects to and what
`lmsbridge sandbox` / `python -m lmsbridge.sandbox` serve. Another connector's tenant would be chosen here."""

from __future__ import annotations

from lmsbridge.sandbox.learning360.cli import main as cli_main
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.sandbox.learning360.testing import running_sandbox as running_tenant

# the integration tool of the connector this tenant simulates, and how messages name the LMS
TOOL = "360learning"
LABEL = "360Learning"


def credentials(tenant: RunningSandbox) -> dict[str, str]:
    """The running tenant's credential, keyed as the connector's ``credential_fields`` name them."""
    return {"client_id": tenant.client_id, "client_secret": tenant.client_secret}


__all__ = ["LABEL", "TOOL", "cli_main", "credentials", "running_tenant"]
