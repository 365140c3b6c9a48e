"""The plugin host: built-ins by name, installed plugins by entry point, options, isolation."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from builders import LADDER, T0, comment, ticket
from pydantic import BaseModel

from plugins import hookimpl
from plugins.manager import ConfigError, NoOptions, PolicyHost

LEGAL_PLUGIN = textwrap.dedent('''
    """legal: the customer mentions legal action."""
    from pydantic import BaseModel
    from plugins import hookimpl

    class Options(BaseModel):
        words: list[str] = ["lawyer", "legal action"]

    @hookimpl
    def tierlift_register_policy(register):
        register(Options, needs={"comments"}, summary="Customer mentions legal action")

    @hookimpl
    def tierlift_evaluate(ticket, ctx):
        for c in ticket.comments:
            if c.from_customer and any(w in c.body.lower() for w in ctx.options.words):
                return ctx.propose(ctx.evidence(f"comment:{c.id}", "Legal action mentioned",
                                                at=c.created_at), tier=ctx.tiers.top)
        return None
''')


def build_wheel(directory: Path) -> Path:
    """A real wheel of a throwaway third-party policy distribution, ``tierlift-legal 1.2.0``."""
    dist_info = "tierlift_legal-1.2.0.dist-info"
    files = {
        "tierlift_legal/__init__.py": LEGAL_PLUGIN,
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\nName: tierlift-legal\nVersion: 1.2.0\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": "[tierlift]\nlegal = tierlift_legal\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / "tierlift_legal-1.2.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """``pip install`` the wheel into its own target directory, as an admin would with pip."""
    root = tmp_path_factory.mktemp("plugin")
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--target", str(site), str(build_wheel(root))], check=True)
    return site


@pytest.fixture
def host() -> PolicyHost:
    return PolicyHost(load_entry_points=False)


BUILT_INS = ["channel", "complexity", "customer_request", "effort", "incident",
             "policy_exception", "repeat_issue", "sentiment", "sla", "specialized", "vip"]


def test_built_in_policies_are_listed_with_their_options(host):
    infos = host.policies()
    assert [(i.name, i.source, i.error) for i in infos] == \
        [(name, "built-in", None) for name in BUILT_INS]
    info = {i.name: i for i in infos}["customer_request"]
    assert set(info.spec.options.model_fields) == {
        "languages", "packs", "exclude", "negation", "phrases", "add_phrases", "comments",
        "steps_up", "priority"}
    assert info.spec.needs == frozenset({"comments", "history"})
    assert all(i.spec.summary for i in infos)


def test_an_installed_plugin_is_discovered_through_its_entry_point(installed_plugin,
                                                                   monkeypatch):
    monkeypatch.syspath_prepend(str(installed_plugin))
    host = PolicyHost()
    infos = {i.name: i for i in host.policies()}
    assert infos["legal"].source == "tierlift-legal 1.2.0"
    assert infos["legal"].spec.needs == frozenset({"comments"})
    policies = host.configure({"legal": {"enabled": True, "words": ["attorney"]}})
    result = policies.evaluate(ticket(comment(5, "My attorney will call you.")), now=T0,
                               tiers=LADDER)
    assert [(p.policy, p.tier, p.evidence[0].key) for p in result.proposals] == \
        [("legal", "L3", "comment:5")]


def test_tierlift_plugins_lists_the_installed_plugin(installed_plugin, tmp_path):
    config = tmp_path / "tierlift.toml"
    config.write_text(textwrap.dedent('''
        [zendesk]
        subdomain = "acme"
        oauth_token = "t"
        webhook_secret = "s"
        [zendesk.tier_groups]
        L1 = 1
        L2 = 2
        L3 = 3
        [policies.legal]
        enabled = true
    '''))
    env = {**os.environ, "PYTHONPATH": str(installed_plugin)}
    tierlift = str(Path(sys.executable).parent / "tierlift")
    out = subprocess.run([tierlift, "plugins", "--config", str(config)], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "legal  [tierlift-legal 1.2.0]  enabled" in out
    assert "    Customer mentions legal action" in out
    assert "    words = ['lawyer', 'legal action']" in out
    assert "customer_request  [built-in]  disabled" in out


def test_a_third_party_plugin_cannot_take_a_built_in_name(tmp_path, monkeypatch):
    dist = tmp_path / "squatter-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: squatter\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tierlift]\ncustomer_request = json\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    infos = [i for i in PolicyHost().policies() if i.name == "customer_request"]
    assert [(i.name, i.source, i.error) for i in infos] == [
        ("customer_request", "built-in", None),
        ("customer_request", "squatter 0.1",
         "not loaded: the name is already taken by built-in"),
    ]


def test_a_plugin_that_fails_to_import_is_reported_not_fatal(tmp_path, monkeypatch):
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tierlift]\nbroken = no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = PolicyHost()
    broken = [i for i in host.policies() if i.name == "broken"]
    assert broken[0].error.startswith("ModuleNotFoundError")
    with pytest.raises(ConfigError) as caught:
        host.configure({"broken": {"enabled": True}})
    assert caught.value.problems[0].startswith("policies.broken: ModuleNotFoundError")


class Raising:
    @hookimpl
    def tierlift_evaluate(self, ticket, ctx):
        raise RuntimeError("boom")


class WrongReturn:
    @hookimpl
    def tierlift_evaluate(self, ticket, ctx):
        return "escalate!"


def test_a_raising_policy_does_not_stop_the_others(host):
    host.register(Raising(), "raising")
    host.register(WrongReturn(), "wrong")
    policies = host.configure({"raising": {"enabled": True}, "wrong": {"enabled": True},
                               "customer_request": {"enabled": True}})
    result = policies.evaluate(ticket(comment(1, "escalate this")), now=T0, tiers=LADDER)
    assert [p.policy for p in result.proposals] == ["customer_request"]
    assert sorted((f.policy, f.error) for f in result.failures) == [
        ("raising", "RuntimeError: boom"),
        ("wrong", "TypeError: returned str, expected ctx.propose(...) results"),
    ]


class ContextFirst:
    """A policy that takes the hook's arguments the other way round."""

    @hookimpl
    def tierlift_evaluate(self, ctx, ticket):
        return ctx.propose(ctx.evidence("subject", f"read #{ticket.ref}"), steps_up=1)


class ContextOnly:
    """A policy that needs nothing of the ticket (pluggy lets it leave the argument out)."""

    @hookimpl
    def tierlift_evaluate(self, ctx):
        return ctx.propose(ctx.evidence("clock", f"evaluated at {ctx.now:%H:%M}"), steps_up=1)


def test_a_policy_takes_the_hooks_arguments_it_names_in_its_order(host):
    host.register(ContextFirst(), "context_first")
    host.register(ContextOnly(), "context_only")
    policies = host.configure({"context_first": {"enabled": True},
                               "context_only": {"enabled": True}})
    result = policies.evaluate(ticket(ref="4711"), now=T0, tiers=LADDER)
    assert result.failures == []
    assert sorted((p.policy, p.evidence[0].summary) for p in result.proposals) == [
        ("context_first", "read #4711"), ("context_only", f"evaluated at {T0:%H:%M}")]


def test_a_plugin_without_registration_has_no_options_and_reads_everything(host):
    host.register(Raising(), "raising")
    spec = host.specs()["raising"]
    assert spec.options is NoOptions
    assert spec.needs == frozenset({"comments", "history"})


def test_only_enabled_policies_run(host):
    host.register(Raising(), "raising")
    policies = host.configure({"raising": {"enabled": False},
                               "customer_request": {"enabled": True}})
    assert policies.names == ["customer_request"]
    result = policies.evaluate(ticket(), now=T0, tiers=LADDER)
    assert result.failures == [] and result.proposals == []


class Strict:
    class Options(BaseModel):
        limit: int = 3

    @hookimpl
    def tierlift_register_policy(self, register):
        register(self.Options, needs={"comments"})

    @hookimpl
    def tierlift_evaluate(self, ticket, ctx):
        return None


def test_option_problems_name_the_key(host):
    host.register(Strict(), "strict")
    with pytest.raises(ConfigError) as caught:
        host.configure({"strict": {"enabled": "yes"}, "nope": {"enabled": True},
                        "customer_request": {"enabled": True, "phrase": ["x"],
                                             "steps_up": "two"}})
    assert caught.value.problems == [
        "policies.strict.enabled: expected true or false, got 'yes'",
        f"policies.nope: no such policy (known: {', '.join(sorted([*BUILT_INS, 'strict']))})",
        "policies.customer_request.phrase: unknown option (options: languages, packs, exclude, "
        "negation, phrases, add_phrases, comments, steps_up, priority)",
        "policies.customer_request.steps_up: Input should be a valid integer, unable to parse "
        "string as an integer",
    ]
