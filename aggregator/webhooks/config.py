"""ResourceInterpreterWebhookConfiguration objects read into checked webhook definitions."""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from interpreters import Operation, Target

API_VERSION = "config.karmada.io/v1alpha1"
KIND = "ResourceInterpreterWebhookConfiguration"
CONTEXT_VERSION = "v1alpha1"
DEFAULT_TIMEOUT_S = 10  # Karmada's documented default
MAX_TIMEOUT_S = 30
WILDCARD = "*"

# Karmada's operation names for the operations statusagg runs
OPERATION_NAMES = {
    Operation.AGGREGATE: "AggregateStatus",
    Operation.REFLECT: "InterpretStatus",
    Operation.HEALTH: "InterpretHealth",
}
KNOWN_OPERATIONS = frozenset(
    {
        WILDCARD,
        "InterpretReplica",
        "InterpretComponent",
        "ReviseReplica",
        "InterpretStatus",
        "Prune",
        "Retain",
        "AggregateStatus",
        "InterpretHealth",
        "InterpretDependency",
    }
)


class ConfigurationError(ValueError):
    """A webhook configuration that cannot be used, with the reason."""


@dataclass(frozen=True)
class Rule:
    """Operations and kinds one rule selects; ``*`` matches everything."""

    operations: frozenset[str]
    api_groups: frozenset[str]
    api_versions: frozenset[str]
    kinds: frozenset[str]

    def matches(self, target: Target, operation: str) -> bool:
        group, _, version = target[0].rpartition("/")
        return all(
            WILDCARD in allowed or value in allowed
            for allowed, value in (
                (self.operations, operation),
                (self.api_groups, group),
                (self.api_versions, version),
                (self.kinds, target[1]),
            )
        )


@dataclass(frozen=True)
class Webhook:
    """One webhook of a configuration, ready to call."""

    configuration: str
    name: str
    url: str
    timeout_s: float
    rules: tuple[Rule, ...]
    ca_bundle: bytes = b""
    ssl_context: ssl.SSLContext = field(compare=False, hash=False, repr=False, kw_only=True)

    @property
    def uid(self) -> str:
        """``configuration/name``: how Karmada orders webhooks that match the same kind."""
        return f"{self.configuration}/{self.name}"

    @property
    def label(self) -> str:
        return f"{KIND} {self.configuration} webhook {self.name}"

    def matches(self, target: Target, operation: Operation) -> bool:
        name = OPERATION_NAMES[operation]
        return any(rule.matches(target, name) for rule in self.rules)

    def named_targets(self, operation: Operation) -> set[Target]:
        """The (apiVersion, kind) pairs the rules name for ``operation``; ``*`` is kept."""
        name = OPERATION_NAMES[operation]
        return {
            (f"{group}/{version}" if group else version, kind)
            for rule in self.rules
            if rule.operations & {name, WILDCARD}
            for group in rule.api_groups
            for version in rule.api_versions
            for kind in rule.kinds
        }


def parse_configuration(obj: Mapping[str, Any]) -> list[Webhook]:
    """The webhooks of one configuration object.

    Raises ConfigurationError naming the webhook and field at fault."""
    name = str(obj.get("metadata", {}).get("name", ""))
    webhooks = obj.get("webhooks")
    if not isinstance(webhooks, list):
        raise ConfigurationError("webhooks must be a list")
    parsed = []
    for index, webhook in enumerate(webhooks):
        if not isinstance(webhook, Mapping):
            raise ConfigurationError(f"webhooks[{index}] must be an object")
        hook_name = webhook.get("name")
        where = f"webhook {hook_name}" if isinstance(hook_name, str) else f"webhooks[{index}]"
        try:
            parsed.append(_webhook(name, webhook))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc
    names = [webhook.name for webhook in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"duplicate webhook names: {', '.join(duplicates)}")
    return parsed


def _webhook(configuration: str, spec: Mapping[str, Any]) -> Webhook:
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigurationError("name must be a non-empty string")
    versions = spec.get("interpreterContextVersions")
    if not isinstance(versions, list) or CONTEXT_VERSION not in versions:
        raise ConfigurationError(
            "the webhook does not accept known ResourceInterpreterContext versions "
            f"({CONTEXT_VERSION}): interpreterContextVersions is {versions!r}"
        )
    timeout = spec.get("timeoutSeconds", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise ConfigurationError(f"timeoutSeconds must be an integer, got {timeout!r}")
    if not 1 <= timeout <= MAX_TIMEOUT_S:
        raise ConfigurationError(f"timeoutSeconds must be between 1 and {MAX_TIMEOUT_S}")
    client = spec.get("clientConfig")
    if not isinstance(client, Mapping):
        raise ConfigurationError("clientConfig must be an object")
    ca_bundle = _ca_bundle(client.get("caBundle"))
    return Webhook(
        configuration,
        name,
        _url(client),
        float(timeout),
        _rules(spec.get("rules", [])),
        ca_bundle,
        ssl_context=_ssl_context(ca_bundle),
    )


def _url(client: Mapping[str, Any]) -> str:
    """The URL to POST to; a service (which wins over url, as in Karmada) becomes its DNS name."""
    service = client.get("service")
    if service is not None:
        if not isinstance(service, Mapping):
            raise ConfigurationError("clientConfig.service must be an object")
        namespace, name = service.get("namespace"), service.get("name")
        if not isinstance(namespace, str) or not namespace or not isinstance(name, str) or not name:
            raise ConfigurationError("clientConfig.service needs a namespace and a name")
        port = service.get("port", 443)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigurationError(f"clientConfig.service.port is not a port: {port!r}")
        path = service.get("path") or "/"
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError("clientConfig.service.path must start with /")
        return f"https://{name}.{namespace}.svc:{port}{path}"
    url = client.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigurationError("clientConfig needs a url or a service")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigurationError(f"clientConfig.url must be an https URL with a host: {url!r}")
    if parts.username or parts.password or parts.fragment or parts.query:
        raise ConfigurationError("clientConfig.url may not hold user info, a query or a fragment")
    return url


def _ca_bundle(value: Any) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise ConfigurationError("clientConfig.caBundle must be base64-encoded PEM")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ConfigurationError(f"clientConfig.caBundle is not base64: {exc}") from exc


def _ssl_context(ca_bundle: bytes) -> ssl.SSLContext:
    """The system's trust store, or only ``ca_bundle`` when one is given."""
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_bundle.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigurationError(f"clientConfig.caBundle has no usable certificate: {exc}") from exc


def _rules(value: Any) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise ConfigurationError("rules must be a list")
    rules = []
    for index, rule in enumerate(value):
        if not isinstance(rule, Mapping):
            raise ConfigurationError(f"rules[{index}] must be an object")
        fields = {}
        for key in ("operations", "apiGroups", "apiVersions", "kinds"):
            entries = rule.get(key)
            if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
                raise ConfigurationError(f"rules[{index}].{key} must be a list of strings")
            if WILDCARD in entries and len(entries) > 1:
                raise ConfigurationError(f"rules[{index}].{key}: '*' must be the only entry")
            fields[key] = frozenset(entries)
        unknown = sorted(fields["operations"] - KNOWN_OPERATIONS)
        if unknown:
            raise ConfigurationError(f"rules[{index}]: unknown operations {', '.join(unknown)}")
        rules.append(
            Rule(fields["operations"], fields["apiGroups"], fields["apiVersions"], fields["kinds"])
        )
    return tuple(rules)
