"""Server configuration: one object, read from a TOML file and ``MKP_*`` environment variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mkp_core.errors import MkpError

DEFAULT_DATABASE_URL = "sqlite:///var/mkp.sqlite3"


class ConfigError(MkpError, ValueError):
    """A configuration file or variable that cannot be used."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_config", message)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server reads at start-up. Later parts add their own fields here."""

    database_url: str = DEFAULT_DATABASE_URL
    # Largest request body accepted, bytes.
    max_request_bytes: int = 64 * 1024
    max_sync_bytes: int = 4 * 1024 * 1024  # a terminal's batch of offline entries
    max_partner_batch_bytes: int = 256 * 1024  # a partner's batch of orders (500 at most)
    # CRL uploads are large (a million revoked serials is about 40 MB of DER).
    max_crl_bytes: int = 128 * 1024 * 1024
    testing: bool = False
    # Terminal CA: key (0600) and certificate live here; made on first use.
    terminal_ca_dir: str = "var/terminal-ca"
    # JPKI user-authentication trust anchors (PEM files, comma-separated); empty: J-LIS's real ones.
    jpki_anchor_files: str = ""
    # Agent releases: where published releases are kept, and the operator's Ed25519 release
    # public keys (PEM files, comma-separated) that manifests must be signed with.
    release_dir: str = "var/releases"
    release_key_files: str = ""
    max_release_bytes: int = 256 * 1024 * 1024
    # Keys the server makes itself (the card-challenge key), 0600 in a 0700 folder; made by init.
    # Every server host behind one database must share this folder's files.
    secrets_dir: str = "var/secrets"
    # MyKey Platform: how long a card challenge may be answered, how often a holder may change
    # their ID, how long an operator's renewal code lasts, and the oldest CRL cards are checked on.
    challenge_seconds: int = 120
    mykey_id_changes: int = 1
    # Challenges asked for with no credential (a holder's): at most so many a minute from one
    # client address, and so many open (unanswered, unexpired) at once from everyone; a holder
    # may try so many MyKey ID changes an hour (each try tells whether an ID is taken).
    challenges_per_address_minute: int = 60
    max_open_challenges: int = 10000
    mykey_id_tries_hour: int = 10
    # Proxies in front of the server that add X-Forwarded-For (0: the peer is the client).
    forwarded_hops: int = 0
    renewal_code_hours: int = 72
    crl_max_age_hours: int = 48
    # Where `mkp-server crl-sweep` fetches the JPKI CRL from (a file path or an http(s) URL).
    crl_source: str = ""
    # Municipal points: how many days after a spend it may be refunded (its points go back to the
    # lots they came from), and the largest grant CSV upload (100,000 rows are about 5 MB).
    refund_days: int = 30
    max_batch_bytes: int = 32 * 1024 * 1024
    # What a terminal may do while the server cannot be reached.
    offline_max_spend: int = 3000
    offline_max_card_day: int = 5000
    offline_max_total: int = 20000
    offline_max_hours: int = 24
    offline_max_crl_hours: int = 48

    @classmethod
    def load(
        cls,
        file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> ServerConfig:
        """Defaults, then the file (``MKP_CONFIG`` if none given), then ``MKP_<FIELD>`` variables, then overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}  # field name -> value of that field's own type
        file = file or env.get("MKP_CONFIG")
        if file:
            path = Path(file)
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except OSError as e:
                raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
            values.update(data.get("server", data))
        known = {f.name: f for f in fields(cls)}
        for name, f in known.items():
            raw = env.get(f"MKP_{name.upper()}")
            if raw is not None:
                values[name] = _parse(name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown configuration setting(s): {', '.join(unknown)}")
        return replace(cls(), **values)


def _parse(name: str, raw: str, type_name: object) -> object:
    if type_name in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"MKP_{name.upper()} must be a whole number, got {raw!r}") from None
    if type_name in ("bool", bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
