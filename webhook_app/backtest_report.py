"""The backtest's report: the numbers an admin reads before going live, as text and as one
self-contained HTML page (inline CSS and SVG, nothing loaded from anywhere)."""

from __future__ import annotations

import html
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from webhook_app.backtest import Move, Outcome, Result

GUIDES = {3: (80, 15, 5), 2: (80, 20)}  # share of tickets per tier the playbooks aim for, %


@dataclass(frozen=True)
class Sample:
    outcome: Outcome
    move: Move


@dataclass
class Summary:
    """What the report shows, worked out once for both forms."""

    result: Result
    by_policy: dict[str, dict[str, int]]  # policy -> where -> tickets
    moved_by_policy: dict[str, int]  # policy -> tickets it acted on
    tiers_before: Counter
    tiers_after: Counter
    teams_before: Counter
    teams_after: Counter
    agents: int  # tickets agents moved up a tier or to a team in the window
    tierlift: int  # tickets tierlift would have moved up or to a team
    both: int
    leads: list[timedelta]  # agents' first move minus tierlift's, for tickets both moved
    samples: list[Sample]

    @classmethod
    def of(cls, result: Result, *, samples: int = 5) -> Summary:
        where: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
        for o in result.outcomes:
            for move in o.moves:
                for policy, target in move.targets.items():
                    where[policy][target].add((o.platform, o.ref))
        by_policy = {p: {w: len(t) for w, t in sorted(targets.items(),
                                                       key=lambda i: (-len(i[1]), i[0]))}
                     for p, targets in sorted(where.items())}
        moved = {p: len(set().union(*targets.values())) for p, targets in where.items()}
        agents = {(o.platform, o.ref) for o in result.outcomes if o.agents_moved_at}
        mine = {(o.platform, o.ref) for o in result.outcomes if o.first_move}
        leads = [o.agents_moved_at - o.first_move.at for o in result.outcomes
                 if o.agents_moved_at and o.first_move]
        return cls(
            result=result, by_policy=by_policy,
            moved_by_policy=dict(sorted(moved.items(), key=lambda i: (-i[1], i[0]))),
            tiers_before=Counter(o.tier_now for o in result.outcomes),
            tiers_after=Counter(o.tier_after for o in result.outcomes),
            teams_before=Counter(o.route_now for o in result.outcomes if o.route_now),
            teams_after=Counter(o.route_after for o in result.outcomes if o.route_after),
            agents=len(agents), tierlift=len(mine), both=len(agents & mine), leads=leads,
            samples=_samples(result.outcomes, samples))

    @property
    def guide(self) -> tuple[int, ...] | None:
        return GUIDES.get(len(self.result.ladder.names))

    @property
    def median_lead(self) -> timedelta | None:
        return statistics.median(self.leads) if self.leads else None


def _samples(outcomes: list[Outcome], limit: int) -> list[Sample]:
    """Would-be writes to show: one per policy first (so each is seen), then the rest, in
    time order."""
    moves = sorted((Sample(o, m) for o in outcomes for m in o.moves),
                   key=lambda s: (s.move.at, s.outcome.ref))
    chosen: list[Sample] = []
    seen_policies: set[str] = set()
    seen_tickets: set[tuple[str, str]] = set()
    for sample in moves:
        key = (sample.outcome.platform, sample.outcome.ref)
        new = set(sample.move.targets) - seen_policies
        if new and key not in seen_tickets and len(chosen) < limit:
            chosen.append(sample)
            seen_policies |= set(sample.move.targets)
            seen_tickets.add(key)
    for sample in moves:
        key = (sample.outcome.platform, sample.outcome.ref)
        if len(chosen) >= limit:
            break
        if key not in seen_tickets:
            chosen.append(sample)
            seen_tickets.add(key)
    return sorted(chosen, key=lambda s: (s.move.at, s.outcome.ref))


# -- text -----------------------------------------------------------------------------------

def duration(delta: timedelta) -> str:
    """``2 d 3 h``, ``4 h 10 min``, ``12 min``, ``40 s``."""
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _tickets(count: int) -> str:
    return f"{count} ticket" if count == 1 else f"{count} tickets"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _lead_text(summary: Summary) -> str:
    lead = summary.median_lead
    if lead is None:
        return "no ticket that both agents and tierlift moved"
    both = f"{_tickets(len(summary.leads))} both moved"
    if abs(lead.total_seconds()) < 60:
        return f"about when agents did (median over {both})"
    side = "earlier" if lead > timedelta(0) else "later"
    return f"a median {duration(lead)} {side} than agents did ({both})"


def _target_label(move: Move) -> str:
    parts = []
    if move.route:
        parts.append(f"team {move.route}")
    elif move.to_tier:
        parts.append(f"{move.from_tier} -> {move.to_tier}")
    if move.priority is not None:
        parts.append(f"priority {move.priority.name.lower()}")
    return ", ".join(parts) or "tags"


def _intro(summary: Summary) -> list[str]:
    """The window, the pull, the replay: the report's first lines."""
    r = summary.result
    platforms = ", ".join(f"{p} {n}" for p, n in
                          sorted(Counter(o.platform for o in r.outcomes).items()))
    lines = [f"tierlift backtest: {len(r.outcomes)} tickets updated {_when(r.start)} .. "
             f"{_when(r.end)}" + (f" ({platforms})" if platforms else "")]
    if r.pull is not None:
        p = r.pull
        lines.append(f"pulled in {p.seconds:.1f} s: {p.fetched} fetched, {p.cached} from the "
                     f"cache" + (f", {p.gone} deleted meanwhile" if p.gone else "")
                     + (f", {len(p.earlier)} earlier tickets of their requesters and "
                        "organizations" if p.earlier else ""))
    lines.append(f"replayed {r.evaluations} evaluations in {r.seconds:.1f} s; policies: "
                 f"{', '.join(r.policies) or 'none'}"
                 + (f" (shadow, not counted: {', '.join(r.shadow)})" if r.shadow else ""))
    if r.failures:
        lines.append("policy errors: " + ", ".join(f"{p} in {n} evaluations"
                                                   for p, n in sorted(r.failures.items())))
    return lines


def render_text(summary: Summary) -> str:
    r = summary.result
    tickets = len(r.outcomes)
    lines = _intro(summary)
    moved = sum(1 for o in r.outcomes if o.moves)
    lines += ["", f"Would write to {moved} of {tickets} tickets "
                  f"({sum(len(o.moves) for o in r.outcomes)} writes). Per policy (tickets):"]
    if not summary.by_policy:
        lines.append("  none")
    width = max((len(p) for p in summary.by_policy), default=0)
    for policy, count in summary.moved_by_policy.items():
        where = ", ".join(f"{w} {n}" for w, n in summary.by_policy[policy].items())
        lines.append(f"  {policy:<{width}}  {count:>4}  -> {where}")
    lines += ["", "Tier mix (tickets in the window): now -> with tierlift"
              + (f", guide {' / '.join(map(str, summary.guide))} %" if summary.guide else "")]
    guide = summary.guide or ()
    for n, tier in enumerate(r.ladder.names):
        before, after = summary.tiers_before[tier], summary.tiers_after[tier]
        aim = f"   guide {guide[n]} %" if n < len(guide) else ""
        lines.append(f"  {tier:<6} {before:>5} {_pct(before, tickets):>8}  ->  {after:>5} "
                     f"{_pct(after, tickets):>8}{aim}")
    teams = sorted(set(summary.teams_before) | set(summary.teams_after))
    if teams:
        lines.append("  with a team: " + ", ".join(
            f"{t} {summary.teams_before[t]} -> {summary.teams_after[t]}" for t in teams))
    lines += ["", "Agreement with the agents' own moves (up a tier or to a team, in the window):",
              f"  agents moved {_tickets(summary.agents)}; tierlift would also have moved "
              f"{summary.both} of them ({_pct(summary.both, summary.agents)})",
              f"  tierlift would move {_tickets(summary.tierlift)}; agents moved "
              f"{summary.both} of them ({_pct(summary.both, summary.tierlift)})",
              f"  only agents: {summary.agents - summary.both}; only tierlift: "
              f"{summary.tierlift - summary.both}",
              "", f"Time to escalation: tierlift would have moved tickets {_lead_text(summary)}"]
    if summary.samples:
        lines += ["", "Sample handoff notes:"]
        for sample in summary.samples:
            o, m = sample.outcome, sample.move
            lines += ["", f"{o.platform} #{o.ref} \"{o.subject}\": {_target_label(m)} at "
                          f"{_when(m.at)} by {', '.join(sorted(m.targets))}"]
            lines += [f"    {line}" if line else "" for line in m.note.splitlines()]
    return "\n".join(lines) + "\n"


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;
color:#1d2433;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d8dde6;padding-bottom:.2rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .7rem;border-bottom:1px solid #e6e9ef;text-align:left}td.n{text-align:right;
font-variant-numeric:tabular-nums}.muted{color:#5b6478}pre{background:#f5f7fa;padding:.8rem;
white-space:pre-wrap;border-left:3px solid #3d6fd1}.legend span{display:inline-block;width:.8rem;
height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
"""
_COLORS = ("#9aa7bd", "#3d6fd1", "#f0a33a")  # now, with tierlift, guide


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list[object]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="n">{_e(c)}</td>' if i in numeric
                                    else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mix_chart(summary: Summary) -> str:
    """Grouped bars per tier: share now, with tierlift, and the guide."""
    tiers = summary.result.ladder.names
    total = len(summary.result.outcomes) or 1
    guide = summary.guide or ()
    bar, gap, top, height = 22, 26, 10, 160
    group = 3 * bar + gap
    width = 50 + group * len(tiers)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
             f'role="img" aria-label="tier mix">',
             f'<line x1="40" y1="{top + height}" x2="{width}" y2="{top + height}" '
             'stroke="#5b6478"/>']
    for pct in (0, 50, 100):
        y = top + height - height * pct / 100
        parts.append(f'<text x="34" y="{y + 4:.0f}" font-size="11" text-anchor="end" '
                     f'fill="#5b6478">{pct}%</text>')
    for n, tier in enumerate(tiers):
        values = [100 * summary.tiers_before[tier] / total,
                  100 * summary.tiers_after[tier] / total,
                  guide[n] if n < len(guide) else None]
        x0 = 50 + n * group
        for k, value in enumerate(values):
            if value is None:
                continue
            h = height * value / 100
            parts.append(f'<rect x="{x0 + k * bar}" y="{top + height - h:.1f}" '
                         f'width="{bar - 3}" height="{h:.1f}" fill="{_COLORS[k]}">'
                         f'<title>{_e(tier)}: {value:.1f} %</title></rect>')
        parts.append(f'<text x="{x0 + 1.5 * bar:.0f}" y="{top + height + 18}" font-size="13" '
                     f'text-anchor="middle">{_e(tier)}</text>')
    parts.append("</svg>")
    legend = ('<div class="legend muted">'
              + "".join(f'<span style="background:{c}"></span>{label}'
                        for c, label in zip(_COLORS, ("now", "with tierlift", "guide"),
                                            strict=True)) + "</div>")
    return "".join(parts) + legend


def render_html(summary: Summary) -> str:
    r = summary.result
    tickets = len(r.outcomes)
    intro = "".join(f"<p class=\"muted\">{_e(line)}</p>" for line in _intro(summary)[1:])
    policy_rows = [[p, n, ", ".join(f"{w} {c}" for w, c in summary.by_policy[p].items())]
                   for p, n in summary.moved_by_policy.items()]
    guide = summary.guide or ()
    mix_rows = [[tier, summary.tiers_before[tier], _pct(summary.tiers_before[tier], tickets),
                 summary.tiers_after[tier], _pct(summary.tiers_after[tier], tickets),
                 f"{guide[n]} %" if n < len(guide) else ""]
                for n, tier in enumerate(r.ladder.names)]
    teams = sorted(set(summary.teams_before) | set(summary.teams_after))
    team_rows = [[t, summary.teams_before[t], summary.teams_after[t]] for t in teams]
    samples = "".join(
        f"<h3>{_e(s.outcome.platform)} #{_e(s.outcome.ref)} “{_e(s.outcome.subject)}”</h3>"
        f"<p class=\"muted\">{_e(_target_label(s.move))} at {_e(_when(s.move.at))} by "
        f"{_e(', '.join(sorted(s.move.targets)))}</p><pre>{_e(s.move.note)}</pre>"
        for s in summary.samples)
    moved = sum(1 for o in r.outcomes if o.moves)
    sections = [
        f"<h1>tierlift backtest: {tickets} tickets, {_e(_when(r.start))} .. "
        f"{_e(_when(r.end))}</h1>", intro,
        f"<h2>Per policy</h2><p>Would write to {moved} of {tickets} tickets.</p>",
        _table(["policy", "tickets", "where"], policy_rows, {1}) if policy_rows
        else "<p>No policy would have moved a ticket.</p>",
        "<h2>Tier mix</h2>", _mix_chart(summary),
        _table(["tier", "now", "share", "with tierlift", "share", "guide"], mix_rows,
               {1, 2, 3, 4, 5}),
        _table(["team", "now", "with tierlift"], team_rows, {1, 2}) if team_rows else "",
        "<h2>Agreement with the agents' own moves</h2>",
        _table(["", "tickets", "also moved by the other", "share"], [
            ["agents moved", summary.agents, summary.both, _pct(summary.both, summary.agents)],
            ["tierlift would move", summary.tierlift, summary.both,
             _pct(summary.both, summary.tierlift)]], {1, 2, 3}),
        f"<h2>Time to escalation</h2><p>tierlift would have moved tickets "
        f"{_e(_lead_text(summary))}.</p>",
        f"<h2>Sample handoff notes</h2>{samples or '<p>None.</p>'}",
    ]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>tierlift backtest</title><style>{_CSS}</style></head><body>"
            + "".join(sections) + "</body></html>\n")
