"""url_maker and fixed_url build the URLs url_for builds, with fewer url_for calls."""
import pytest
from flask import url_for

from webapp.platform.urls import fixed_url, url_maker


@pytest.mark.parametrize("script_root", ["", "/wardline"])
def test_url_maker_same_urls_as_url_for(app, script_root):
    with app.test_request_context("/", environ_base={"SCRIPT_NAME": script_root}):
        for endpoint in ("threads.conversation", "threads.officer_conversation"):
            make = url_maker(endpoint, "conversation_id")
            for cid in (1, 7, 42, 2147483646, 2147483647):
                assert make(cid) == url_for(endpoint, conversation_id=cid)
        with_query = url_maker("threads.conversation", "conversation_id", before=5)
        assert with_query(9) == url_for("threads.conversation", conversation_id=9, before=5)
        with pytest.raises(TypeError):
            url_maker("threads.conversation", "conversation_id")("1/../x")


def test_fixed_url_same_urls_as_url_for_per_script_root(app):
    for script_root in ("", "/wardline", ""):
        with app.test_request_context("/", environ_base={"SCRIPT_NAME": script_root}):
            for endpoint, values in (("core.index", {}), ("accounts.logout", {}),
                                     ("static", {"filename": "img/icon.svg"}),
                                     ("wards.ward_home", {"code": "E05014000"}),
                                     ("wards.ward_home", {"code": "E05014001"})):
                assert fixed_url(endpoint, **values) == url_for(endpoint, **values)
                assert fixed_url(endpoint, **values) == url_for(endpoint, **values)  # kept
