"""Sender credentials of serve.yaml: tokens kept as hashes, source networks, certificate subjects."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rempart.serve.senders import SenderDirectory, SendersConfig, new_token


def _directory() -> tuple[SenderDirectory, str]:
    token, digest = new_token()
    config = SendersConfig.model_validate({
        "tokens": [{"name": "cap-beats", "establishment": "capitouls", "sha256": digest}],
        "networks": [{"name": "cap-lan", "establishment": "capitouls", "networks": ["10.11.0.0/16"]},
                     {"name": "cap-dpi", "establishment": "capitouls", "networks": ["10.11.1.20"]},
                     {"name": "group-soc", "networks": ["::1", "127.0.0.0/8"]}],
        "certificates": [{"name": "dombes-rsyslog", "establishment": "dombes", "subject": "dombes-rsyslog"}],
    })
    return SenderDirectory(config), token


def test_a_token_names_its_credential_and_establishment() -> None:
    senders, token = _directory()
    found = senders.by_token(token, "10.11.1.5:40000")
    assert found is not None and (found.credential, found.establishment) == ("cap-beats", "capitouls")
    assert found.address == "10.11.1.5:40000"
    assert senders.by_token(token + "x", "10.11.1.5:40000") is None
    assert senders.by_token("", "10.11.1.5:40000") is None


def test_the_most_specific_network_wins_and_mapped_ipv4_is_read() -> None:
    senders, _ = _directory()
    assert senders.by_address("10.11.1.20:514").credential == "cap-dpi"  # type: ignore[union-attr]
    assert senders.by_address("10.11.2.3:514").credential == "cap-lan"  # type: ignore[union-attr]
    assert senders.by_address("[::ffff:10.11.2.3]:514").credential == "cap-lan"  # type: ignore[union-attr]
    assert senders.by_address("[::1]:514").establishment is None  # type: ignore[union-attr]
    assert senders.by_address("192.0.2.1:514") is None
    assert senders.by_address("not-an-address") is None


def test_a_certificate_subject() -> None:
    senders, _ = _directory()
    assert senders.by_certificate("dombes-rsyslog", "a:1").establishment == "dombes"  # type: ignore[union-attr]
    assert senders.by_certificate("someone-else", "a:1") is None


def test_mistakes_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a network"):
        SendersConfig.model_validate({"networks": [{"name": "x", "networks": ["10.11.0.0/33"]}]})
    with pytest.raises(ValidationError, match="two senders are named"):
        SendersConfig.model_validate({"networks": [{"name": "x", "networks": ["10.0.0.1"]}],
                                      "certificates": [{"name": "x", "subject": "x"}]})
    with pytest.raises(ValidationError, match="sha256"):
        SendersConfig.model_validate({"tokens": [{"name": "x", "sha256": "the-token-itself"}]})
