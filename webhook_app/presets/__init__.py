"""Ready configurations that ``tierlift init --preset NAME`` writes out for an admin to fill in."""

from __future__ import annotations

from importlib.resources import files

PRESETS = ("standard",)
HELPDESKS = ("zendesk", "jira")


def render(preset: str, helpdesks: tuple[str, ...] = HELPDESKS) -> str:
    """The commented TOML of ``preset`` with the connection tables of ``helpdesks``."""
    if preset not in PRESETS:
        raise ValueError(f"no preset {preset!r} (presets: {', '.join(PRESETS)})")
    here = files(__name__)
    parts = [here.joinpath(f"{preset}.toml").read_text(encoding="utf-8")]
    parts += [here.joinpath(f"connect-{name}.toml").read_text(encoding="utf-8")
              for name in HELPDESKS if name in helpdesks]
    parts.append(here.joinpath(f"{preset}-policies.toml").read_text(encoding="utf-8"))
    return "".join(parts)
