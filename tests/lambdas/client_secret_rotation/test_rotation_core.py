"""The pure decisions particular to a Cognito client secret, with plain data.

The protocol they run in is tested in ``tests/runtime/test_secret_rotation.py``.
"""

import json
from datetime import UTC, datetime

import pytest
from client_secret_rotation.rotation import (
    ActiveSecret,
    check_pending_is_active,
    parse_secret,
    pending_secret,
    secrets_to_delete,
)
from hypothesis import given
from hypothesis import strategies as st

from secure_endpoint.runtime.secret_rotation import RotationError

POOL = "us-east-1_Pool"
SECRET = "api-client/partner"
CONTENT = {
    "client_name": "partner",
    "client_id": "abc123",
    "client_secret": "old-value",
    "user_pool_id": POOL,
    "token_url": "https://auth.example.com/oauth2/token",
    "api_url": "https://api.example.com/invoke",
    "scope": "api/invoke",
    "api_key": "key",
}


def secret_at(day: int, client_secret_id: str) -> ActiveSecret:
    return ActiveSecret(client_secret_id, datetime(2025, 1, day, tzinfo=UTC))


def test_parses_a_secret_and_keeps_unknown_keys() -> None:
    content = {**CONTENT, "owner": "team-a"}
    assert parse_secret(SECRET, "AWSCURRENT", json.dumps(content), user_pool_id=POOL) == content


@pytest.mark.parametrize("secret_string", [None, "", "not json", "{"])
def test_rejects_a_secret_that_is_not_json(secret_string: str | None) -> None:
    with pytest.raises(
        RotationError, match=r"secret 'api-client/partner' \(AWSCURRENT\) is not JSON"
    ):
        parse_secret(SECRET, "AWSCURRENT", secret_string, user_pool_id=POOL)


def test_rejects_a_secret_that_is_not_an_object() -> None:
    with pytest.raises(RotationError, match="is not a JSON object"):
        parse_secret(SECRET, "AWSCURRENT", '["abc123"]', user_pool_id=POOL)


@pytest.mark.parametrize("key", ["client_id", "client_secret", "user_pool_id"])
def test_rejects_a_secret_without_a_key_rotation_needs(key: str) -> None:
    content = {k: v for k, v in CONTENT.items() if k != key}
    with pytest.raises(RotationError, match=f"has no string value for key '{key}'"):
        parse_secret(SECRET, "AWSCURRENT", json.dumps(content), user_pool_id=POOL)


def test_rejects_an_empty_client_id() -> None:
    with pytest.raises(RotationError, match="has no string value for key 'client_id'"):
        parse_secret(
            SECRET, "AWSCURRENT", json.dumps({**CONTENT, "client_id": ""}), user_pool_id=POOL
        )


def test_rejects_a_pending_secret_without_its_client_secret_id() -> None:
    with pytest.raises(
        RotationError, match=r"\(AWSPENDING\) has no string value for key 'client_secret_id'"
    ):
        parse_secret(SECRET, "AWSPENDING", json.dumps(CONTENT), user_pool_id=POOL)


def test_rejects_a_secret_of_another_user_pool() -> None:
    with pytest.raises(
        RotationError, match=r"is for user pool 'us-east-1_Pool'; .* clients of 'us-east-1_Other'"
    ):
        parse_secret(SECRET, "AWSCURRENT", json.dumps(CONTENT), user_pool_id="us-east-1_Other")


SECRET_TEXTS = st.one_of(
    st.text(),
    st.builds(
        json.dumps,
        st.dictionaries(
            st.sampled_from(sorted(CONTENT)),
            st.one_of(st.none(), st.integers(), st.text(), st.sampled_from([POOL])),
        ),
    ),
)


@given(SECRET_TEXTS)
def test_any_secret_text_is_parsed_or_refused_with_a_rotation_error(text: str) -> None:
    try:
        parsed = parse_secret(SECRET, "AWSCURRENT", text, user_pool_id=POOL)
    except RotationError:
        return
    assert parsed == json.loads(text)


def test_a_refused_secret_never_shows_its_values() -> None:
    content = {**CONTENT, "client_id": "", "client_secret": "s3cr3t-value"}
    with pytest.raises(RotationError) as refused:
        parse_secret(SECRET, "AWSCURRENT", json.dumps(content), user_pool_id=POOL)
    assert "s3cr3t-value" not in str(refused.value)


def test_keeps_the_current_client_secret_and_deletes_the_other() -> None:
    active = [secret_at(1, "previous"), secret_at(2, "current")]
    assert secrets_to_delete(SECRET, active, "current") == ["previous"]


def test_deletes_nothing_when_only_the_current_client_secret_is_active() -> None:
    assert secrets_to_delete(SECRET, [secret_at(1, "current")], "current") == []


def test_a_secret_never_rotated_keeps_the_original_and_deletes_an_orphan() -> None:
    active = [secret_at(3, "orphan"), secret_at(1, "original")]
    assert secrets_to_delete(SECRET, active, None) == ["orphan"]


def test_refuses_to_guess_when_the_current_client_secret_is_not_active() -> None:
    with pytest.raises(RotationError, match=r"'gone' of secret 'api-client/partner'.*not active"):
        secrets_to_delete(SECRET, [secret_at(1, "a"), secret_at(2, "b")], "gone")


def test_refuses_an_app_client_without_a_client_secret() -> None:
    with pytest.raises(RotationError, match="has no client secret"):
        secrets_to_delete(SECRET, [], None)


def test_the_pending_secret_changes_only_the_client_secret_and_its_id() -> None:
    current = {**CONTENT, "owner": "team-a"}
    pending = pending_secret(current, "new-id", "new-value")
    assert pending == {**current, "client_secret": "new-value", "client_secret_id": "new-id"}
    assert current["client_secret"] == "old-value"


def test_accepts_a_pending_client_secret_that_is_active() -> None:
    pending = {**CONTENT, "client_secret_id": "new"}
    check_pending_is_active(SECRET, pending, [secret_at(1, "old"), secret_at(2, "new")])


def test_rejects_a_pending_client_secret_that_is_not_active() -> None:
    pending = {**CONTENT, "client_secret_id": "new"}
    with pytest.raises(RotationError, match=r"'new' of secret 'api-client/partner' \(AWSPENDING\)"):
        check_pending_is_active(SECRET, pending, [secret_at(1, "old")])
