"""DM 1.3 through a whole session: an inherited-ACL Get comes back as status 217 with Results."""

from __future__ import annotations

import pytest
from test_session import make_server, make_tree, queue_on_start

from omadm_codec.messages.model import Get, Item, Target
from omadm_codec.session import ClientSession, CommandCompleted, State
from omadm_codec.tools.simulator import SERVER_ID, run_in_memory


@pytest.mark.parametrize("fmt", ["xml", "wbxml"])
@pytest.mark.parametrize("dm_version, expected", [("1.3", 217), ("1.2", 200)])
def test_inherited_acl_get_status_crosses_the_session(fmt: str, dm_version: str,
                                                      expected: int) -> None:
    tree = make_tree()
    tree.dm_version = dm_version
    uri = "./Vendor/Acme/Settings/Brightness?prop=ACL"  # no ACL of its own: inherits ./Vendor's
    get = Get("5", [Item(target=Target(uri))])
    server = make_server()
    client = ClientSession(tree, fmt=fmt)  # type: ignore[arg-type]
    exchange = run_in_memory(client, server, app=queue_on_start([get]))
    assert client.state is State.CLOSED and server.state is State.CLOSED
    done = [e for e in exchange.server_events if isinstance(e, CommandCompleted)]
    assert [e.status for e in done] == [expected]
    values = [item.data for results in done[0].results for item in results.items]
    if dm_version == "1.3":
        assert values and SERVER_ID in str(values[0])  # the inherited ACL names the server
    else:
        assert values in ([""], [None], [])
