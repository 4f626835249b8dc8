"""``lmsbridge integrations relink ID`` prints a single-use Connect link bound to the integration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from typer.testing import CliRunner

from factories import make_integration, new_box
from lmsbridge.cli import app
from lmsbridge.store import connect_links
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database

runner = CliRunner()


def test_relink_prints_a_link_bound_to_the_integration(database_url: str, tmp_path: Path) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        integration_id = make_integration(engine, new_box(), end_user={"organization_name": "Initech"})
        base = ["--database-url", database_url, "--data-dir", str(tmp_path / "data")]
        for extra, lifetime in (([], timedelta(hours=1)), (["--magic-link"], timedelta(days=365))):
            result = runner.invoke(app, [*base, "integrations", "relink", integration_id, *extra])
            assert result.exit_code == 0, result.output
            link = result.stdout.strip()
            assert urlsplit(link).path == "/connect" and "works once" in result.stderr
            [token] = parse_qs(urlsplit(link).query)["token"]
            with session_scope(engine, readonly=True) as session:
                found = connect_links.find_link(session, token, datetime.now(UTC))
                assert found.state == "usable" and found.link is not None
                assert (found.link.relink, found.link.integration_id) == (True, integration_id)
                assert found.link.expires_at - found.link.created_at == lifetime
        missing = runner.invoke(app, [*base, "integrations", "relink", "360learning:nope"])
        assert missing.exit_code != 0 and "no integration with id '360learning:nope'" in missing.output
    finally:
        engine.dispose()
