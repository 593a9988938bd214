"""Server configuration: defaults, then a TOML file, then FINGERPRINT_* env vars, then flags."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = ["ServerConfig", "load_config", "parse_tokens", "parse_env_tokens", "SCOPES", "ConfigError"]

# Scopes are ordered: each includes the ones before it.
SCOPES = ("read", "write", "admin")
ENV_PREFIX = "FINGERPRINT_"


class ConfigError(ValueError):
    """A configuration value is missing, malformed, or inconsistent."""


@dataclass
class ServerConfig:
    """Everything the server can be told; see `fingerprint serve --help` for each option."""

    address: str = "127.0.0.1:50051"
    # None keeps everything in memory (tests, throwaway servers); a directory makes it durable.
    data_dir: Optional[str] = None
    # sha256(token) hex -> scope. Filled from tokens_file and FINGERPRINT_TOKENS.
    tokens: Dict[str, str] = field(default_factory=dict, repr=False)
    tokens_file: Optional[str] = None
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None
    max_message_bytes: int = 64 * 1024 * 1024
    max_batch: int = 100_000
    max_k: int = 1000
    max_results: int = 1_000_000
    max_concurrent_streams: int = 32
    workers: int = 64
    # Items per SQLite transaction during AddItems; each commit is one fsync of the WAL.
    commit_batch: int = 1024
    # "full": an acknowledged add survives power loss; "normal": survives a process crash only.
    synchronous: str = "full"
    search_threads: Optional[int] = None
    grace_seconds: float = 30.0
    max_pixels: int = 50_000_000
    audio_max_seconds: float = 600.0
    # Write packed-code snapshots at shutdown so a restart skips decoding every code.
    snapshots: bool = True

    def validate(self) -> "ServerConfig":
        """Check ranges and file options; returns self."""
        for name in ("max_message_bytes", "max_batch", "max_k", "max_results",
                     "max_concurrent_streams", "workers", "commit_batch", "max_pixels"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.synchronous.lower() not in ("full", "normal", "extra"):
            raise ConfigError(f"synchronous must be full, normal or extra, got {self.synchronous!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"no such file: {path}")
        if self.search_threads is not None and int(self.search_threads) < 1:
            raise ConfigError(f"search_threads must be at least 1, got {self.search_threads}")
        return self

    @property
    def auth_enabled(self) -> bool:
        """Whether bearer tokens are required."""
        return bool(self.tokens)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_token(token: str, scope: str, source: str) -> Tuple[str, str]:
    scope = scope.strip().lower()
    token = token.strip()
    if scope not in SCOPES:
        raise ConfigError(f"{source}: scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if len(token) < 16:
        raise ConfigError(f"{source}: tokens must be at least 16 characters")
    return hash_token(token), scope


def parse_tokens(text: str, source: str) -> Dict[str, str]:
    """Parse a tokens file: `TOKEN SCOPE` per line, '#' starts a comment.

    Returns sha256(token) -> scope, so raw tokens are not kept in memory.
    """
    out: Dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{source}:{n}: expected 'TOKEN SCOPE'")
        key, scope = _check_token(parts[0], parts[1], f"{source}:{n}")
        out[key] = scope
    return out


def parse_env_tokens(text: str, source: str = "FINGERPRINT_TOKENS") -> Dict[str, str]:
    """Parse `TOKEN:SCOPE,TOKEN:SCOPE` (the FINGERPRINT_TOKENS format)."""
    out: Dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        token, sep, scope = part.rpartition(":")
        if not sep:
            raise ConfigError(f"{source}: expected TOKEN:SCOPE, got an entry without ':'")
        key, scope = _check_token(token, scope, source)
        out[key] = scope
    return out


_FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig) if f.name != "tokens"}


def _coerce(name: str, value: Any) -> Any:
    """Convert a TOML/env/flag value to the field's type."""
    default = _FIELDS[name].default
    if value is None:
        return None
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected a boolean, got {value!r}")
        return bool(value)
    try:
        if isinstance(default, int) or name == "search_threads":
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    return str(value)


def load_config(
    file: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    overrides: Optional[Mapping[str, Any]] = None,
) -> ServerConfig:
    """Build a config from a TOML file (top level or a [server] table), env vars and overrides.

    Later sources win; `None` overrides are ignored. Tokens come from `tokens_file` and the
    FINGERPRINT_TOKENS variable (`tok1:read,tok2:admin`), merged.
    """
    env = os.environ if env is None else env
    values: Dict[str, Any] = {}
    file = file or env.get(ENV_PREFIX + "CONFIG")
    if file:
        try:
            with open(file, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config file {file}: {e}") from None
        data = data.get("server", data)
        for key, value in data.items():
            key = key.replace("-", "_")
            if key not in _FIELDS:
                raise ConfigError(f"{file}: unknown option {key!r}")
            values[key] = _coerce(key, value)
    for key in _FIELDS:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ConfigError(f"unknown option {key!r}")
        values[key] = _coerce(key, value)
    config = ServerConfig(**values)
    if config.tokens_file:
        try:
            text = Path(config.tokens_file).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read tokens file: {e}") from None
        config.tokens.update(parse_tokens(text, config.tokens_file))
    env_tokens = env.get(ENV_PREFIX + "TOKENS")
    if env_tokens:
        config.tokens.update(parse_env_tokens(env_tokens))
    return config.validate()
