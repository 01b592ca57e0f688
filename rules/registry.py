"""Which rules ticketbot knows: every installed package's entry points in the group ``ticketbot.rules``.

A package contributes a rule by naming its class (or an instance) under the rule's id::

    [project.entry-points."ticketbot.rules"]
    acme_onboarding = "acme_runbooks.onboarding:AcmeOnboarding"

ticketbot's own five runbooks are registered the same way in its pyproject.toml. Rule ids are unique: two
packages offering one id is a configuration error at start naming both packages, as is an entry point that
cannot be imported, is no :class:`~bot.engine.Rule`, or whose name is not its rule's id. Evaluation order:
ticketbot's own rules in their order below, then plugins by package and id. A checkout that was never installed
(no entry points for ticketbot itself) still knows the built-in rules.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version

from bot.config import RuleBlock
from bot.engine import Rule
from bot.settings import ConfigurationError

GROUP = "ticketbot.rules"
OWN_PACKAGE = "ticketbot"
#: ticketbot's own rules, in evaluation order (their entry points are in pyproject.toml).
BUILT_IN = {
    "everbright_onboarding": "rules.everbright_onboarding:EverBrightOnboarding",
    "momentus_einvoicing": "rules.momentus_einvoicing:MomentusEInvoicing",
    "nfe_onboarding": "rules.nfe_onboarding:NfeOnboarding",
    "sharespine_onboarding": "rules.sharespine_onboarding:SharespineOnboarding",
    "procountor_einvoicing": "rules.procountor_einvoicing:ProcountorEInvoicing",
}


@dataclass(frozen=True)
class Registered:
    """A known rule and where it comes from."""

    rule: Rule
    package: str
    version: str
    source: str  # module:attribute

    @property
    def built_in(self) -> bool:
        return self.package == OWN_PACKAGE

    def origin(self) -> str:
        return f"{self.package} {self.version} ({self.source})"


def _package(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else ep.value.split(".")[0]
    try:
        return name, dist.version if dist is not None else version(name)
    except PackageNotFoundError:
        return name, "?"


def _load(name: str, value: str, package: str) -> Rule:
    """The rule an entry point names (a Rule subclass, made with no arguments, or an instance), checked."""
    where = f"rule plugin {name!r} of package {package} ({value})"
    module, _, attribute = value.partition(":")
    try:
        found: object = importlib.import_module(module)
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
        rule = found() if isinstance(found, type) else found
    except Exception as exc:  # noqa: BLE001 - whatever a plugin raises on import, it is named in one line
        raise ConfigurationError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(rule, Rule):
        raise ConfigurationError(f"{where} is no ticketbot rule (a subclass of bot.api.Rule); it is "
                                 f"{type(rule).__name__}")
    rule_id = getattr(rule, "id", "")
    if not isinstance(rule_id, str) or not rule_id.isidentifier():
        raise ConfigurationError(f"{where}: its id {rule_id!r} is not a Python identifier")
    if rule_id != name:
        raise ConfigurationError(f"{where}: the entry point is named {name!r} but the rule's id is {rule_id!r}; "
                                 "name the entry point after the id")
    if not (isinstance(type(rule).Config, type) and issubclass(type(rule).Config, RuleBlock)):
        raise ConfigurationError(f"{where}: its Config is not a bot.api.RuleBlock")
    return rule


def discover(found: Iterable[EntryPoint] | None = None) -> dict[str, Registered]:
    """Every rule the installed packages (``found``: these entry points instead) register, by id, in order."""
    points = list(entry_points(group=GROUP) if found is None else found)
    known: dict[str, Registered] = {}
    own = [ep for ep in points if _package(ep)[0] == OWN_PACKAGE]
    if not own:  # an uninstalled checkout: the built-in rules all the same
        for name, value in BUILT_IN.items():
            known[name] = Registered(_load(name, value, OWN_PACKAGE), OWN_PACKAGE, "checkout", value)
    order = list(BUILT_IN)
    for ep in sorted(points, key=lambda p: (_package(p)[0] != OWN_PACKAGE,
                                            order.index(p.name) if p.name in order else len(order),
                                            _package(p)[0].casefold(), p.name)):
        package, release = _package(ep)
        if ep.name in known:
            raise ConfigurationError(f"rule id {ep.name!r} is registered twice: by {known[ep.name].origin()} and by "
                                     f"{package} {release} ({ep.value}); uninstall one of the packages")
        known[ep.name] = Registered(_load(ep.name, ep.value, package), package, release, ep.value)
    return known


@functools.cache
def registered() -> dict[str, Registered]:
    """The rules of this process's installed packages (discovered once)."""
    return discover()
