"""Atlassian Document Format (Jira Cloud's rich text) to plain text for policies, and back."""

from __future__ import annotations

from typing import Any

BLOCKS = frozenset({"paragraph", "heading", "blockquote", "codeBlock", "panel", "rule",
                    "mediaSingle", "mediaGroup", "table", "tableRow", "expand", "nestedExpand"})


def to_text(document: Any) -> str:
    """The readable text of an ADF document (or a plain string, returned as is)."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    return "\n".join(line.rstrip() for line in _render(document).strip("\n").split("\n"))


def _render(node: Any, bullet: str = "") -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return node.get("text", "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status", "date"):
        return str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    children = node.get("content") or []
    if kind in ("bulletList", "orderedList"):
        items = []
        for n, item in enumerate(children, start=attrs.get("order", 1)):
            mark = "- " if kind == "bulletList" else f"{n}. "
            items.append(_render(item, mark).strip("\n"))
        return "\n".join(items) + "\n"
    if kind == "listItem":
        return bullet + "".join(_render(child) for child in children)
    if kind == "tableCell" or kind == "tableHeader":
        return "".join(_render(child) for child in children).strip("\n") + " | "
    text = "".join(_render(child) for child in children)
    return text + "\n" if kind in BLOCKS else text


def from_text(text: str) -> dict:
    """An ADF document with one paragraph per line (blank lines kept as empty paragraphs)."""
    paragraphs = []
    for line in text.split("\n"):
        content = [{"type": "text", "text": line}] if line else []
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}
