"""PROTOCOL §1 (conventions) and §2 (authentication, identities), black-box."""

from __future__ import annotations

import uuid

import pytest

from tests.conformance.proto import (
    PASSWORD,
    TIME_RE,
    UUID4_RE,
    Server,
    User,
    assert_error,
    cookie_client,
    make_user,
    mime_with_attachments,
    new_pubkey,
    signup,
    unique_email,
)

# --- §1 conventions ---------------------------------------------------------------------


def test_healthz_needs_no_auth(srv: Server) -> None:
    with srv.client() as http:
        resp = http.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path",
    [
        "/boxes/not-a-uuid",
        "/boxes/not-a-uuid/events",
        "/events/123",
        "/encrypted-files/zzz",
    ],
)
def test_malformed_id_in_path_is_400_malformed(alice: User, path: str) -> None:
    body = assert_error(alice.http.get(path), 400)
    assert "malformed" in body["details"].values(), body


def test_upper_case_or_non_v4_uuid_is_malformed(alice: User) -> None:
    box = alice.box()
    assert_error(alice.http.get(f"/boxes/{box['id'].upper()}"), 400)


def test_malformed_id_in_query_is_400_malformed(alice: User) -> None:
    box = alice.box()
    body = assert_error(
        alice.http.get(f"/boxes/{box['id']}/events", params={"after": "nope"}), 400
    )
    assert "malformed" in body["details"].values(), body
    body = assert_error(
        alice.http.get(
            "/box-key-shares/encrypted-invitation-key-share", params={"box_id": "nope"}
        ),
        400,
    )
    assert "malformed" in body["details"].values(), body


def test_malformed_id_in_body_is_400_malformed(alice: User) -> None:
    box = alice.box()
    resp = alice.post(
        box["id"], "msg.text", {"encrypted": "abc"}, referrer_id="not-an-id"
    )
    body = assert_error(resp, 400)
    assert "malformed" in body["details"].values(), body


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"offset": "-1"},
        {"limit": "1001"},
        {"limit": "abc"},
        {"offset": "1.5"},
    ],
)
def test_bad_pagination_is_400(alice: User, params: dict[str, str]) -> None:
    box = alice.box()
    assert_error(
        alice.http.get(f"/boxes/{box['id']}/events", params=params), 400, origin="query"
    )
    assert_error(alice.http.get("/boxes/joined", params=params), 400, origin="query")


def test_limit_1000_is_allowed(alice: User) -> None:
    assert alice.http.get("/boxes/joined", params={"limit": 1000}).status_code == 200


def test_default_limit_is_500(alice: User) -> None:
    box = alice.box()
    # One e-mail with 499 attachments: create + msg.text + 499 msg.file = 501 visible events.
    resp = alice.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(499),
        headers={"Content-Type": "message/rfc822"},
    )
    assert resp.status_code == 201, resp.text[:300]
    page = alice.http.get(f"/boxes/{box['id']}/events").json()
    assert len(page) == 500
    assert page[0]["type"] == "create"
    assert (
        alice.http.head(f"/boxes/{box['id']}/events").headers["X-Total-Count"] == "501"
    )
    assert len(alice.http.get(f"/boxes/{box['id']}/files").json()) == 499
    assert (
        len(alice.http.get(f"/boxes/{box['id']}/files", params={"limit": 1000}).json())
        == 499
    )


def test_events_cursors_always_chronological(alice: User) -> None:
    box = alice.box()
    texts = [alice.text(box["id"]) for _ in range(6)]
    all_ids = [e["id"] for e in alice.http.get(f"/boxes/{box['id']}/events").json()]
    assert all_ids[1:] == [t["id"] for t in texts]
    after = alice.http.get(
        f"/boxes/{box['id']}/events", params={"after": texts[1]["id"], "limit": 2}
    ).json()
    assert [e["id"] for e in after] == [texts[2]["id"], texts[3]["id"]]
    before = alice.http.get(
        f"/boxes/{box['id']}/events", params={"before": texts[4]["id"], "limit": 2}
    ).json()
    assert [e["id"] for e in before] == [texts[2]["id"], texts[3]["id"]]
    tail = alice.http.get(
        f"/boxes/{box['id']}/events", params={"tail": "true", "limit": 3}
    ).json()
    assert [e["id"] for e in tail] == [t["id"] for t in texts[3:]]
    offset = alice.http.get(
        f"/boxes/{box['id']}/events", params={"offset": 2, "limit": 2}
    ).json()
    assert [e["id"] for e in offset] == [texts[1]["id"], texts[2]["id"]]


@pytest.mark.parametrize("suffix", ["events", "files", "members"])
def test_head_twins_count_without_body(alice: User, suffix: str) -> None:
    box = alice.box()
    alice.text(box["id"])
    resp = alice.http.head(f"/boxes/{box['id']}/{suffix}")
    assert resp.status_code == 204, resp.status_code
    assert resp.content == b""
    expected = len(alice.http.get(f"/boxes/{box['id']}/{suffix}").json())
    assert resp.headers["X-Total-Count"] == str(expected)


def test_head_joined_and_saved_files_count(alice: User) -> None:
    alice.box()
    alice.box()
    resp = alice.http.head("/boxes/joined")
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["X-Total-Count"] == "2"
    resp = alice.http.head("/saved-files", params={"identity_id": alice.id})
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["X-Total-Count"] == "0"


def test_head_errors_have_no_body(alice: User, bob: User) -> None:
    box = alice.box()
    resp = bob.http.head(f"/boxes/{box['id']}/events")
    assert resp.status_code == 403
    assert resp.content == b""


def test_validation_errors_are_400_never_422(alice: User) -> None:
    assert_error(alice.http.post("/boxes", json={"title": "x"}), 400)  # missing field
    assert_error(
        alice.http.post(
            "/boxes", json={"title": "x", "public_key": new_pubkey(), "bogus": 1}
        ),
        400,
    )  # unknown field
    assert_error(
        alice.http.post("/boxes", json={"title": 5, "public_key": new_pubkey()}), 400
    )  # wrong type
    assert_error(
        alice.http.post("/boxes", json={"title": "x" * 51, "public_key": new_pubkey()}),
        400,
    )  # bad length
    assert_error(
        alice.http.post(
            "/boxes", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    assert_error(alice.http.post("/boxes", json=[1, 2]), 400)


def test_missing_field_detail_is_required(alice: User) -> None:
    body = assert_error(
        alice.http.post("/boxes", json={"title": "x"}), 400, origin="body"
    )
    assert body["details"].get("public_key") == "required", body


def test_oversized_field_is_400_not_413(alice: User) -> None:
    box = alice.box()
    resp = alice.post(box["id"], "msg.text", {"encrypted": "A" * (64 * 1024 + 1)})
    assert_error(resp, 400)


def test_unknown_route_is_404_error_body(srv: Server) -> None:
    with srv.client() as http:
        assert_error(http.get("/no-such-route"), 404)


def test_wrong_method_is_405_error_body(alice: User) -> None:
    assert_error(alice.http.post("/healthz"), 405)
    assert_error(alice.http.delete("/boxes"), 405)


# --- §2 signup, code, login ---------------------------------------------------------------


def test_signup_201_identity(srv: Server) -> None:
    _address, resp = signup(srv, name="Signup")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert UUID4_RE.match(body["id"]), body
    assert body["display_name"] == "Signup"


def test_signup_duplicate_email_409(srv: Server) -> None:
    address, first = signup(srv)
    assert first.status_code == 201
    _, again = signup(srv, address)
    assert_error(again, 409)


def test_signup_duplicate_email_case_insensitive_409(srv: Server) -> None:
    address, first = signup(srv)
    assert first.status_code == 201
    _, again = signup(srv, address.upper())
    assert_error(again, 409)


def test_signup_short_password_400(srv: Server) -> None:
    with srv.client() as http:
        resp = http.post(
            "/auth/signup",
            json={"email": unique_email(), "password": "1234567", "display_name": "x"},
        )
    assert_error(resp, 400, origin="body")
    with srv.client() as http:
        resp = http.post(
            "/auth/signup",
            json={"email": unique_email(), "password": "12345678", "display_name": "x"},
        )
    assert resp.status_code == 201


def test_signup_bad_email_400(srv: Server) -> None:
    with srv.client() as http:
        assert_error(
            http.post(
                "/auth/signup",
                json={
                    "email": "not-an-email",
                    "password": PASSWORD,
                    "display_name": "x",
                },
            ),
            400,
        )


def test_login_with_password_body_and_cookies(srv: Server) -> None:
    address, resp = signup(srv)
    with srv.client() as http:
        login = http.post("/auth/login", json={"email": address, "password": PASSWORD})
    assert login.status_code == 200, login.text
    body = login.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "acr",
        "expires_at",
        "csrf_token",
        "identity",
    }, body
    assert body["token_type"] == "bearer"
    assert body["acr"] == 2 and isinstance(body["acr"], int)
    assert TIME_RE.match(body["expires_at"]), body
    assert body["identity"]["id"] == resp.json()["id"]
    assert body["identity"]["identifier_value"] == address
    cookies = {c.name: c for c in login.cookies.jar}
    assert cookies["accesstoken"].value == body["access_token"]
    assert cookies["tokentype"].value == "bearer"
    assert cookies["_csrf"].value == body["csrf_token"]
    raw = [h.lower() for h in login.headers.get_list("set-cookie")]
    for name in ("accesstoken=", "tokentype="):
        header = next(h for h in raw if h.startswith(name))
        assert "httponly" in header and "samesite=strict" in header, header


def test_code_flow_acr1(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        resp = http.post("/auth/code", json={"email": address})
        assert resp.status_code == 204 and resp.content == b""
        code = srv.latest_code(address)
        assert len(code) == 6 and code.isdigit()
        login = http.post("/auth/login", json={"email": address, "code": code})
    assert login.status_code == 200, login.text
    assert login.json()["acr"] == 1


def test_code_flow_for_account_is_acr1(srv: Server) -> None:
    address, _ = signup(srv)
    with srv.client() as http:
        assert http.post("/auth/code", json={"email": address}).status_code == 204
        login = http.post(
            "/auth/login", json={"email": address, "code": srv.latest_code(address)}
        )
    assert login.status_code == 200 and login.json()["acr"] == 1


def test_code_single_use_and_wrong_code(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        http.post("/auth/code", json={"email": address})
        code = srv.latest_code(address)
        wrong = "000000" if code != "000000" else "111111"
        assert_error(
            http.post("/auth/login", json={"email": address, "code": wrong}), 401
        )
        assert (
            http.post("/auth/login", json={"email": address, "code": code}).status_code
            == 200
        )
        assert_error(
            http.post("/auth/login", json={"email": address, "code": code}), 401
        )


def test_code_dies_after_5_wrong_tries(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        http.post("/auth/code", json={"email": address})
        code = srv.latest_code(address)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            assert_error(
                http.post("/auth/login", json={"email": address, "code": wrong}), 401
            )
        assert_error(
            http.post("/auth/login", json={"email": address, "code": code}), 401
        )


def test_wrong_credentials_401_same_for_unknown(srv: Server) -> None:
    address, _ = signup(srv)
    with srv.client() as http:
        wrong = assert_error(
            http.post(
                "/auth/login", json={"email": address, "password": "wrong-password"}
            ),
            401,
        )
        unknown = assert_error(
            http.post(
                "/auth/login",
                json={"email": unique_email(), "password": "wrong-password"},
            ),
            401,
        )
    assert wrong == unknown


def test_password_login_for_identity_without_account_401(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        http.post("/auth/code", json={"email": address})
        assert_error(
            http.post("/auth/login", json={"email": address, "password": PASSWORD}), 401
        )


def test_429_after_10_failures(srv: Server) -> None:
    address, _ = signup(srv)
    with srv.client() as http:
        # "More than 10 failures" (§2): the 11th try is still answered, and fails.
        for _ in range(11):
            assert_error(
                http.post(
                    "/auth/login", json={"email": address, "password": "wrong-password"}
                ),
                401,
            )
        assert_error(
            http.post(
                "/auth/login", json={"email": address, "password": "wrong-password"}
            ),
            429,
        )
        # Locked even with the right password for that pair.
        assert_error(
            http.post("/auth/login", json={"email": address, "password": PASSWORD}), 429
        )


def test_login_body_needs_password_xor_code(srv: Server) -> None:
    address, _ = signup(srv)
    with srv.client() as http:
        assert_error(http.post("/auth/login", json={"email": address}), 400)
        assert_error(
            http.post(
                "/auth/login",
                json={"email": address, "password": PASSWORD, "code": "123456"},
            ),
            400,
        )


def test_logout_revokes(srv: Server) -> None:
    user = make_user(srv)
    assert user.http.get("/auth/session").status_code == 200
    resp = user.http.post("/auth/logout")
    assert resp.status_code == 204 and resp.content == b""
    assert_error(user.http.get("/auth/session"), 401)
    assert_error(user.http.get("/identities/me"), 401)


def test_session_info(alice: User) -> None:
    resp = alice.http.get("/auth/session")
    assert resp.status_code == 200
    assert resp.json()["acr"] == 2


def test_no_auth_401(srv: Server) -> None:
    with srv.client() as http:
        assert_error(http.get("/identities/me"), 401)
        assert_error(http.get("/boxes/joined"), 401)
        assert_error(
            http.get("/identities/me", headers={"Authorization": "Bearer nonsense"}),
            401,
        )


def test_cookie_auth_and_csrf(srv: Server, alice: User) -> None:
    csrf = alice.login["csrf_token"]
    with cookie_client(srv, alice) as http:
        assert http.get("/identities/me").status_code == 200  # safe: no CSRF needed
        assert_error(
            http.post("/boxes", json={"title": "t", "public_key": new_pubkey()}), 400
        )
        assert_error(
            http.post(
                "/boxes",
                json={"title": "t", "public_key": new_pubkey()},
                headers={"X-CSRF-Token": "wrong"},
            ),
            403,
        )
        ok = http.post(
            "/boxes",
            json={"title": "t", "public_key": new_pubkey()},
            headers={"X-CSRF-Token": csrf},
        )
        assert ok.status_code == 201, ok.text
        assert_error(
            http.patch(f"/identities/{alice.id}", json={"display_name": "A"}), 400
        )
        assert_error(http.put(f"/boxes/{ok.json()['id']}/new-events-count/ack"), 400)
        assert_error(http.delete("/crypto/actions/" + str(uuid.uuid4())), 400)


def test_bearer_skips_csrf(alice: User) -> None:
    assert (
        alice.http.post(
            "/boxes", json={"title": "t", "public_key": new_pubkey()}
        ).status_code
        == 201
    )


def test_bearer_and_cookies_together_401(srv: Server, alice: User) -> None:
    with cookie_client(srv, alice) as http:
        resp = http.get(
            "/identities/me", headers={"Authorization": f"Bearer {alice.token}"}
        )
    assert_error(resp, 401)


def test_acr_too_low_403_origin_acr(srv: Server) -> None:
    user = make_user(srv, acr=1)
    box = user.box()
    resp = user.http.post(
        f"/boxes/{box['id']}/batch-events",
        json={
            "batch_type": "accesses",
            "events": [
                {
                    "type": "access.add",
                    "content": {
                        "restriction_type": "identifier",
                        "value": "a@b.example",
                    },
                }
            ],
        },
    )
    assert_error(
        resp, 403, origin="acr", details={"acr": "forbidden", "required_acr": "2"}
    )
    for method, path in [
        ("GET", "/saved-files?identity_id=" + user.id),
        ("GET", "/crypto/secret-storage"),
        ("GET", "/identities/pubkey?identifier_value=a@b.example"),
    ]:
        assert_error(
            user.http.request(method, path),
            403,
            origin="acr",
            details={"acr": "forbidden", "required_acr": "2"},
        )
    assert_error(
        user.http.request(
            "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
        ),
        403,
        origin="acr",
        details={"acr": "forbidden", "required_acr": "2"},
    )


def test_acr1_may_use_boxes_events(srv: Server) -> None:
    user = make_user(srv, acr=1)
    box = user.box()
    user.text(box["id"])
    assert user.http.get(f"/boxes/{box['id']}/events").status_code == 200
    assert user.http.get("/boxes/joined").status_code == 200


# --- §2 identities ---------------------------------------------------------------------


def test_identities_me(alice: User) -> None:
    resp = alice.http.get("/identities/me")
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == alice.id
    assert body["display_name"] == "Alice"


def test_patch_identity_self(alice: User) -> None:
    key = new_pubkey()
    resp = alice.http.patch(
        f"/identities/{alice.id}",
        json={
            "display_name": "Alice 2",
            "avatar_url": "https://a.example/x.png",
            "public_key": key,
        },
    )
    assert resp.status_code == 200, resp.text
    me = alice.http.get("/identities/me").json()
    assert me["display_name"] == "Alice 2"
    assert me["avatar_url"] == "https://a.example/x.png"


def test_patch_identity_other_403(alice: User, bob: User) -> None:
    assert_error(
        alice.http.patch(f"/identities/{bob.id}", json={"display_name": "x"}), 403
    )


def test_patch_identity_bad_key_400(alice: User) -> None:
    assert_error(
        alice.http.patch(f"/identities/{alice.id}", json={"public_key": "!!!"}), 400
    )
    assert_error(
        alice.http.patch(f"/identities/{alice.id}", json={"unknown": "x"}), 400
    )


def test_pubkey_lookup(alice: User, bob: User) -> None:
    assert (
        alice.http.get(
            "/identities/pubkey", params={"identifier_value": bob.email}
        ).json()
        == []
    )
    key = new_pubkey()
    assert (
        bob.http.patch(f"/identities/{bob.id}", json={"public_key": key}).status_code
        == 200
    )
    resp = alice.http.get("/identities/pubkey", params={"identifier_value": bob.email})
    assert resp.status_code == 200
    assert resp.json() == [key]
    assert (
        alice.http.get(
            "/identities/pubkey", params={"identifier_value": unique_email()}
        ).json()
        == []
    )
