from __future__ import annotations

import dataclasses

import pytest

from pipeline.settings import Settings, SettingsError
from tests.helpers import clean_env, tweetfeed


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.poll_interval == 10
    assert settings.capture_embedded is False
    assert settings.prevent_exit is False
    assert settings.batch_size == 500
    assert settings.batch_wait_ms == 250
    assert settings.celery_broker_url == settings.redis_url
    assert settings.database_url.startswith("sqlite:///")


def test_every_variable_is_read_from_its_tweetfeed_name() -> None:
    env = {
        "TWEETFEED_BATCH_SIZE": "20",
        "TWEETFEED_CAPTURE_EMBEDDED": "yes",
        "TWEETFEED_BROKER_URL": "amqp://guest:guest@127.0.0.1//",
        "TWEETFEED_TWEET_MODEL": "myapp.models:MyTweet",
        "TWEETFEED_AGGREGATION_KEYS": "notification=actor+verb+hour, photo_aggregated=object+week",
    }
    settings = Settings.from_env(env)
    assert settings.batch_size == 20
    assert settings.capture_embedded is True
    assert settings.celery_broker_url == "amqp://guest:guest@127.0.0.1//"
    assert settings.tweet_model == "myapp.models:MyTweet"
    assert settings.aggregation_keys == (
        ("notification", ("actor", "verb", "hour")),
        ("photo_aggregated", ("object", "week")),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWEETFEED_BATCH_SIZE", "lots"),
        ("TWEETFEED_BATCH_SIZE", "0"),
        ("TWEETFEED_CAPTURE_EMBEDDED", "maybe"),
        ("TWEETFEED_POLL_INTERVAL", "-1"),
        ("TWEETFEED_REDIS_URL", "localhost"),
        ("TWEETFEED_TWEET_MODEL", "not a dotted path"),
        ("TWEETFEED_AGGREGATION_KEYS", "timeline=verb+day"),
        ("TWEETFEED_AGGREGATION_KEYS", "notification=verb+colour"),
        ("TWEETFEED_AGGREGATION_KEYS", "notification=verb+verb"),
        ("TWEETFEED_AGGREGATION_KEYS", "notification="),
    ],
)
def test_a_bad_value_fails_with_an_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_settings_cannot_be_changed_after_start() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 1  # type: ignore[misc]


def test_repr_never_shows_a_database_password() -> None:
    settings = Settings.from_env(
        {"TWEETFEED_DATABASE_URL": "postgresql://app:s3cret-pw@db.example/tweets"}
    )
    assert "s3cret-pw" not in repr(settings)
    assert "app:***@db.example" in repr(settings)


def test_the_command_refuses_to_start_on_a_bad_setting() -> None:
    result = tweetfeed("settings", env=clean_env(TWEETFEED_BATCH_WAIT_MS="soon"))
    assert result.returncode == 2
    assert b"TWEETFEED_BATCH_WAIT_MS" in result.stderr
