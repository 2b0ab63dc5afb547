"""The S3 blob store (issue 8 part 3): the real app against a real S3 API (moto's
standalone server, a subprocess), with the file store's rules unchanged — streamed
uploads and downloads, quota, orphan deletion and the orphan sweep, e-mail
attachments — and ``503`` with nothing half-written while S3 cannot be reached.

What the bucket holds is read with boto3, another client than the server's own.
"""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from boxtui.crypto import decrypt_file, open_file_metadata
from boxtui.server.files.service import blob_store, sweep_orphan_blobs
from boxtui.server.settings import ServerSettings
from tests.conftest import _running, asgi_client, make_settings
from tests.s3 import S3_KEYS, S3Gate, boto_client, create_bucket, inspect_bucket, moto_s3, s3_bucket  # noqa: F401 - fixtures
from tests.server.helpers import assert_error, create_box, post_event, signup_login
from tests.server.test_email_ingest import PDF, eml, send
from tests.server.test_files import box_with_keys, multipart_body, sealed_file, upload
from tests.server.test_saved_files import direct_upload

MiB = 1 << 20
PREFIX = "tenant-a/blobs"


def s3_settings(base: ServerSettings | None, tmp_path, endpoint: str, bucket: str, **overrides) -> ServerSettings:
    values = dict(blob_store=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=endpoint, s3_part_bytes=5 * MiB, **S3_KEYS, **overrides)
    if base is not None:
        return make_settings(base.data_dir, base.database_url, **values)
    return make_settings(tmp_path / "data", **values)


@pytest.fixture
async def s3_http(server_settings, tmp_path, moto_s3, s3_bucket):
    """The real app on SQLite and PostgreSQL, its blobs in a fresh bucket."""
    settings = s3_settings(server_settings, tmp_path, moto_s3, s3_bucket)
    async for app in _running(settings):
        await app.state.first_blob_sweep.wait()  # the sweep at start is done: the test's own run alone
        async with asgi_client(app) as client:
            yield client


def bucket_of(http: httpx.AsyncClient) -> tuple[str, str]:
    settings = http._transport.app.state.settings  # type: ignore[attr-defined]
    return settings.s3_endpoint_url, settings.blob_store[len("s3://") :].split("/", 1)[0]


def objects(http: httpx.AsyncClient) -> dict[str, bytes]:
    found, uploads = inspect_bucket(*bucket_of(http))
    assert uploads == [], f"unfinished multipart uploads left: {uploads}"
    return found


def key(file_id: str) -> str:
    return f"{PREFIX}/{file_id}"


# --- the file rules, on S3 ---------------------------------------------------------------


async def test_uploads_and_downloads_go_through_the_bucket(s3_http):
    http = s3_http
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    small = os.urandom(300_000)
    large = os.urandom(12 * MiB + 12345)  # three parts of 5 MiB
    events = []
    for name, data in (("small.bin", small), ("large.bin", large)):
        blob, encrypted = sealed_file(box, data, name, "application/octet-stream")
        events.append(((await upload(http, alice, box, blob, encrypted=encrypted)).json(), blob, data))

    stored = objects(http)
    assert sorted(stored) == sorted(key(e["content"]["encrypted_file_id"]) for e, _, _ in events)
    for event, blob, data in events:
        file_id = event["content"]["encrypted_file_id"]
        assert stored[key(file_id)] == blob  # ciphertext, byte for byte
        download = await http.get(f"/encrypted-files/{file_id}", headers=alice.headers)
        assert download.status_code == 200
        assert int(download.headers["content-length"]) == len(blob)
        assert download.content == blob
        assert decrypt_file(download.content, open_file_metadata(event["content"]["encrypted"], secret).key) == data
    assert not (http._transport.app.state.settings.data_dir / "blobs").exists()  # type: ignore[attr-defined]


async def test_an_upload_is_not_held_in_memory(tmp_path, moto_s3, s3_bucket):
    """A 48 MiB upload streams through in parts: the server's Python heap never holds
    more than a few parts of it (the body arrives in 1 MiB chunks)."""
    settings = s3_settings(None, tmp_path, moto_s3, s3_bucket)
    async for app in _running(settings):
        async with asgi_client(app, timeout=120) as http:
            alice = await signup_login(http, "alice@example.com")
            box = await create_box(http, alice)
            from tests.server.helpers import ciphertext, random_key

            chunk = os.urandom(MiB)
            body = multipart_body("B0UNDARY", {"msg_encrypted_content": ciphertext(), "msg_public_key": random_key()}, [chunk] * 48)
            tracemalloc.start()
            try:
                response = await http.post(
                    f"/boxes/{box['id']}/encrypted-files", content=body,
                    headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=B0UNDARY"},
                )  # fmt: skip
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert response.status_code == 201, response.text
            assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB for a 48 MiB upload"
            file_id = response.json()["content"]["encrypted_file_id"]
            assert len(objects(http)[key(file_id)]) == 48 * MiB


async def test_quota_and_orphan_deletion_are_unchanged(tmp_path, moto_s3, s3_bucket):
    settings = s3_settings(None, tmp_path, moto_s3, s3_bucket, max_upload_bytes=4096, quota_bytes=10240)
    async for app in _running(settings):
        async with asgi_client(app) as http:
            alice = await signup_login(http, "alice@example.com")
            box = await create_box(http, alice)
            other = await create_box(http, alice, "Other")
            first, second, third = [(await upload(http, alice, b, os.urandom(3000))).json() for b in (box, box, other)]
            assert_error(await upload(http, alice, box, os.urandom(3000), status=403), 403, quota="forbidden")
            assert_error(await upload(http, alice, box, os.urandom(5000), status=413), 413)
            assert len(objects(http)) == 3  # nothing of the refused uploads

            # The last reference gone: row and object go, and the quota has room again.
            await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": first["id"]})
            assert key(first["content"]["encrypted_file_id"]) not in objects(http)
            assert_error(await http.get(f"/encrypted-files/{first['content']['encrypted_file_id']}", headers=alice.headers), 404)
            await upload(http, alice, box, os.urandom(3000))

            # Deleting a box deletes its blobs; the other box's stays.
            response = await http.request("DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}, headers=alice.headers)
            assert response.status_code == 204, response.text
            assert sorted(objects(http)) == [key(third["content"]["encrypted_file_id"])]
            assert second  # its object went with the box


async def test_saved_files_live_in_the_bucket(s3_http):
    http = s3_http
    alice = await signup_login(http, "alice@example.com")
    data = os.urandom(2000)
    saved = (await direct_upload(http, alice, data)).json()
    file_id = saved["encrypted_file_id"]
    assert objects(http)[key(file_id)] == data
    assert (await http.get(f"/encrypted-files/{file_id}", headers=alice.headers)).content == data
    assert (await http.delete(f"/saved-files/{saved['id']}", headers=alice.headers)).status_code == 204
    assert objects(http) == {}


async def test_email_attachments_are_encrypted_into_the_bucket(s3_http):
    http = s3_http
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    big = os.urandom(6 * MiB + 77)  # more than a part: its tag is written into the held first part
    raw = eml(attachments=[("report.pdf", "application", "pdf", PDF), ("big.bin", "application", "octet-stream", big)])
    response = await send(http, alice, box["id"], raw)
    assert response.status_code == 201, response.text
    _, *files = response.json()["events"]
    opened = []
    for event in files:
        meta = open_file_metadata(event["content"]["encrypted"], secret)
        blob = await http.get(f"/encrypted-files/{event['content']['encrypted_file_id']}", headers=alice.headers)
        opened.append((meta.file_name, decrypt_file(blob.content, meta.key) == (PDF if meta.file_name == "report.pdf" else big)))
    assert opened == [("report.pdf", True), ("big.bin", True)]
    stored = objects(http)
    assert len(stored) == 2 and all(PDF not in data and big[:4096] not in data for data in stored.values())


# --- the orphan sweep ----------------------------------------------------------------------


async def test_the_sweep_removes_old_orphans_and_unfinished_uploads_only(s3_http):
    http = s3_http
    app = http._transport.app  # type: ignore[attr-defined]
    settings = app.state.settings
    endpoint, bucket = bucket_of(http)
    s3 = boto_client(endpoint)
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    kept = (await upload(http, alice, box)).json()["content"]["encrypted_file_id"]
    orphan = str(uuid.uuid4())  # what a kill -9 between placing and committing leaves
    s3.put_object(Bucket=bucket, Key=key(orphan), Body=b"nobody claims this")
    strays = [f"{PREFIX}/not-a-blob-id", f"elsewhere/{uuid.uuid4()}", f"{PREFIX}/{uuid.uuid4()}/nested"]
    for stray in strays:
        s3.put_object(Bucket=bucket, Key=stray, Body=b"not ours to judge")
    crashed_key = key(str(uuid.uuid4()))  # an upload a crash left unfinished, one part sent
    crashed = s3.create_multipart_upload(Bucket=bucket, Key=crashed_key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=crashed_key, UploadId=crashed, PartNumber=1, Body=b"x" * 1000)

    # moto reports every multipart upload as started on 2010-11-10: to the sweep it is
    # long stale, while the orphan object, written just now, is still in its grace.
    assert await sweep_orphan_blobs(app.state.sessionmaker, settings) == 1
    found, uploads = inspect_bucket(endpoint, bucket)
    assert uploads == [] and key(orphan) in found and key(kept) in found

    later = time.time() + settings.blob_sweep_grace_seconds + 120
    assert await sweep_orphan_blobs(app.state.sessionmaker, settings, now=later) == 1
    found, _ = inspect_bucket(endpoint, bucket)
    assert sorted(found) == sorted([key(kept), *strays])
    download = await http.get(f"/encrypted-files/{kept}", headers=alice.headers)
    assert download.status_code == 200


async def test_the_sweep_keeps_an_upload_started_within_the_grace(s3_http):
    """The same comparison for unfinished uploads: one started after the cutoff stays."""
    http = s3_http
    endpoint, bucket = bucket_of(http)
    store = blob_store(http._transport.app.state.settings)  # type: ignore[attr-defined]
    boto_client(endpoint).create_multipart_upload(Bucket=bucket, Key=key(str(uuid.uuid4())))
    started = datetime(2010, 11, 10, 20, 48, 33, tzinfo=timezone.utc).timestamp()  # moto's fixed "Initiated"
    assert await store.drop_stale_staging(started - 1) == 0
    assert len(inspect_bucket(endpoint, bucket)[1]) == 1
    assert await store.drop_stale_staging(started + 1) == 1
    assert inspect_bucket(endpoint, bucket)[1] == []


# --- S3 unreachable ------------------------------------------------------------------------


async def test_s3_unreachable_is_503_with_nothing_half_written_and_recovers(tmp_path, moto_s3, s3_bucket):
    gate = S3Gate(moto_s3)
    await gate.reopen()
    settings = s3_settings(None, tmp_path, gate.url, s3_bucket, blob_sweep_interval_seconds=3600)
    try:
        async for app in _running(settings):
            async with asgi_client(app, timeout=60) as http:
                alice = await signup_login(http, "alice@example.com")
                box = await create_box(http, alice)
                before = (await upload(http, alice, box, b"stored before the outage")).json()
                before_id = before["content"]["encrypted_file_id"]
                listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()

                await gate.shut()
                key_header = {"Idempotency-Key": uuid.uuid4().hex}
                small = await http.post(
                    f"/boxes/{box['id']}/encrypted-files", headers={**alice.headers, **key_header},
                    data={"msg_encrypted_content": before["content"]["encrypted"], "msg_public_key": box["public_key"]},
                    files={"encrypted_file": ("blob", b"during the outage")},
                )  # fmt: skip
                body = assert_error(small, 503, "service_unavailable")
                assert body["origin"] == "not_defined" and "file store" in body["desc"]
                assert small.headers["retry-after"].isdigit()
                large = await upload(http, alice, box, os.urandom(11 * MiB), status=503)  # fails while parts are sent
                assert_error(large, 503, "service_unavailable")
                assert_error(await send(http, alice, box["id"], eml(attachments=[("a.pdf", "application", "pdf", PDF)])), 503)
                big_mail = eml(attachments=[("big.bin", "application", "octet-stream", os.urandom(11 * MiB))])
                assert_error(await send(http, alice, box["id"], big_mail), 503)  # fails in the reader's thread, mid-mail
                assert_error(await direct_upload(http, alice, b"saved", status=503), 503)
                assert_error(await http.get(f"/encrypted-files/{before_id}", headers=alice.headers), 503)
                # Nothing was written: no event, no row (the quota is untouched), no object.
                assert (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json() == listed
                found, uploads = inspect_bucket(moto_s3, s3_bucket)
                assert sorted(found) == [key(before_id)] and uploads == []
                # Deleting works while S3 is away; the object is left to the sweep.
                await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": before["id"]})
                assert key(before_id) in inspect_bucket(moto_s3, s3_bucket)[0]

                await gate.reopen()
                retried = await http.post(
                    f"/boxes/{box['id']}/encrypted-files", headers={**alice.headers, **key_header},
                    data={"msg_encrypted_content": before["content"]["encrypted"], "msg_public_key": box["public_key"]},
                    files={"encrypted_file": ("blob", b"during the outage")},
                )  # fmt: skip
                assert retried.status_code == 201, retried.text  # the 503 was not recorded for the key
                new_id = retried.json()["content"]["encrypted_file_id"]
                assert (await http.get(f"/encrypted-files/{new_id}", headers=alice.headers)).content == b"during the outage"
                later = time.time() + settings.blob_sweep_grace_seconds + 120
                assert await sweep_orphan_blobs(app.state.sessionmaker, settings, now=later) == 1
                assert sorted(inspect_bucket(moto_s3, s3_bucket)[0]) == [key(new_id)]
    finally:
        await gate.shut()


async def test_a_server_starts_while_s3_is_down_and_serves_files_once_it_is_back(tmp_path, moto_s3, s3_bucket):
    gate = S3Gate(moto_s3)  # shut: nothing listens yet
    settings = s3_settings(None, tmp_path, gate.url, s3_bucket)
    try:
        async for app in _running(settings):
            async with asgi_client(app) as http:
                alice = await signup_login(http, "alice@example.com")
                box = await create_box(http, alice)
                assert_error(await upload(http, alice, box, status=503), 503, "service_unavailable")
                await gate.reopen()
                await upload(http, alice, box)
    finally:
        await gate.shut()


# --- settings and the signer -------------------------------------------------------------


def test_blob_store_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match="s3://BUCKET"):
        make_settings(tmp_path, blob_store="gs://bucket/x")
    with pytest.raises(ValueError, match="bucket name"):
        make_settings(tmp_path, blob_store="s3:///x")


def test_credentials_and_endpoint_come_from_settings_then_the_aws_variables(tmp_path):
    from boxtui.server.files.s3 import S3Config

    env = {"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "secret-env", "AWS_SESSION_TOKEN": "token-env",
           "AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://s3-only:2/", "AWS_REGION": "eu-west-3"}  # fmt: skip
    config = S3Config.from_settings(make_settings(tmp_path, blob_store="s3://bkt/a/b/"), env)
    assert (config.bucket, config.prefix, config.key("x")) == ("bkt", "a/b", "a/b/x")
    assert (config.endpoint_url, config.region, config.path_style) == ("http://s3-only:2", "eu-west-3", True)
    assert (config.access_key_id, config.secret_access_key, config.session_token) == ("AKENV", "secret-env", "token-env")

    mine = make_settings(tmp_path, blob_store="s3://bkt", s3_endpoint_url="http://mine:3", s3_region="us-west-2",
                         s3_access_key_id="AKMINE", s3_secret_access_key="secret-mine")  # fmt: skip
    config = S3Config.from_settings(mine, env)
    assert (config.endpoint_url, config.region, config.access_key_id, config.secret_access_key) == ("http://mine:3", "us-west-2", "AKMINE", "secret-mine")
    assert config.session_token == "" and config.key("x") == "x"  # the environment's token is not for these keys

    aws = S3Config.from_settings(make_settings(tmp_path, blob_store="s3://bkt/p"), {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert (aws.endpoint_url, aws.region, aws.path_style) == ("https://s3.us-east-1.amazonaws.com", "us-east-1", False)
    with pytest.raises(ValueError, match="needs credentials"):
        S3Config.from_settings(make_settings(tmp_path, blob_store="s3://bkt/p"), {})
    with pytest.raises(ValueError, match="prefix"):
        S3Config.from_settings(make_settings(tmp_path, blob_store="s3://bkt/a b"), env)


@pytest.mark.parametrize(
    "method, url, body, token",
    [
        ("GET", "http://127.0.0.1:9000/bucket?list-type=2&max-keys=1000&prefix=a%2Fb%2F", b"", ""),
        ("PUT", "https://s3.eu-west-3.amazonaws.com/bucket/a/b/0f5e1c2a-8a0e-4b7e-9d6a-1f2e3d4c5b6a?partNumber=2&uploadId=X%2BY%3D", b"part bytes " * 100, ""),
        ("POST", "https://bucket.s3.amazonaws.com/key?uploads=", b"", "session/token+="),
        ("DELETE", "http://[::1]:9000/bucket/key?uploadId=abc", b"", ""),
    ],
)
def test_the_signature_is_the_one_botocore_makes(method, url, body, token):
    """The minimal SigV4 signer against AWS's own (botocore, installed with moto)."""
    import hashlib

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from boxtui.server.files.s3 import sign

    request = AWSRequest(method=method, url=url, data=body, headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token or None), "s3", "eu-west-3").add_auth(request)
    moment = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    ours = sign(
        method, httpx.URL(url), {}, hashlib.sha256(body).hexdigest(),
        access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region="eu-west-3", session_token=token, now=moment,
    )  # fmt: skip
    assert ours["authorization"] == request.headers["Authorization"]


async def test_every_s3_call_signs_what_it_sends(tmp_path):
    """The URL the client sends is the one it signed (checked by re-signing the request
    as received, over a transport that only records)."""
    from boxtui.server.files.s3 import S3BlobStore, S3Config, sign

    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")

    settings = make_settings(tmp_path, blob_store="s3://bkt/pre.fix_1-2", s3_endpoint_url="http://127.0.0.1:9", **S3_KEYS)
    store = S3BlobStore(S3Config.from_settings(settings), transport=httpx.MockTransport(record))
    async for _ in store.blob_ids_older_than(time.time()):
        pass
    await store.client.abort_multipart_upload("pre.fix_1-2/k", "id+with/odd=chars")
    await store.aclose()
    for request in seen:
        moment = datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        again = sign(request.method, request.url, {}, request.headers["x-amz-content-sha256"], now=moment,
                     access_key_id=S3_KEYS["s3_access_key_id"], secret_access_key=S3_KEYS["s3_secret_access_key"], region="us-east-1")  # fmt: skip
        assert again["authorization"] == request.headers["authorization"]
        assert request.headers["host"] == "127.0.0.1:9"
    assert [r.url.path for r in seen] == ["/bkt", "/bkt/pre.fix_1-2/k"]



async def test_a_server_without_s3_keys_does_not_start(tmp_path, monkeypatch):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    settings = make_settings(tmp_path / "data", blob_store="s3://bucket/prefix", s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="needs credentials"):
        async for _ in _running(settings):
            pass
