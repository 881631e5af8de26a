"""The soak's section of docs/performance.md."""

from __future__ import annotations

import os
import platform
from collections import Counter

from benchmarks.soak.run import SoakResult


def markdown(result: SoakResult, command: str) -> str:
    o, f = result.options, result.figures
    lines = [
        f"## Soak: the province under faults ({o['database']}, {o['ingest_workers']} ingest worker(s))",
        "",
        f"`{command}` on {os.cpu_count()} cores ({platform.machine()}), load {os.getloadavg()[0]:.1f} at the end.",
        f"{o['regencies']} agents x {o['cameras_per_agent']} cameras and {o['websites_per_agent']} websites, check interval "
        f"{o['interval_s']:g} s, {o['duration_s']:.0f} s of chaos, seed {o['seed']}, {len(result.schedule)} incidents "
        f"({_kinds(result)}).",
        "",
        f"- **Reports:** {f.get('published', 0):,} published, {f.get('stored', 0):,} stored, **lost {f.get('lost', '?')}**, "
        f"**doubled {f.get('doubled', '?')}**, quarantined {f.get('quarantined', '?')}, dropped by an outbox "
        f"{f.get('outbox_dropped', '?')}; outboxes drained: {f.get('drained')}.",
        f"- **Failure to screen** (fault injected -> API / live stream), p95 over all faults "
        f"{f.get('failure_to_screen_p95_s', '-')} s (goal: interval + 5 s = {o['interval_s'] + 5:g} s):",
        "",
        "| fault | n | API p50 / p95 / max (s) | live stream p50 / p95 / max (s) | back to ok in API p50 / p95 (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for fault, row in f.get("failure_to_screen_s", {}).items():
        api, live, up = row.get("api_down", {}), row.get("live_down", {}), row.get("api_up", {})
        lines.append(f"| {fault} | {api.get('n', 0)} | {_ppm(api)} | {_ppm(live)} | "
                     f"{up.get('p50', '-')} / {up.get('p95', '-')} |")  # fmt: skip
    alerts = f.get("alerts", {})
    lines += [
        "",
        f"- **Alerts:** {alerts.get('expected', 0)} camera and agent incidents long enough to alert: "
        f"{alerts.get('exactly_once', 0)} alerted exactly once, missed {len(alerts.get('missed', []))}, doubled "
        f"{len(alerts.get('doubled', []))}, not cleared {len(alerts.get('not_cleared', []))}, for incidents too "
        f"short to alert {len(alerts.get('spurious', []))}; unexplained alerts "
        f"{_by_rule(alerts.get('unexplained', []))} ({alerts.get('total', 0)} alerts in all; begun and cleared in the "
        f"warm-up, not judged: {_by_rule(alerts.get('warm_up', []))}).",
        f"- **Memory** at the end (MB): {f.get('rss_mb_end')}; growth (%/h) from {_judged(f)}: "
        f"{f.get('rss_growth_pct_per_hour')}.",
        f"- **CPU** (cores, mean): {f.get('cpu_cores')}.",
        _database(f.get("database", {})),
        f"- **Outbox depth** peak during link cuts: {f.get('outbox_peak_during_cuts')}.",
        "",
        f"Verdict: {'all goals met' if result.passed else 'NOT met: ' + '; '.join(result.problems)}.",
    ]
    return "\n".join(lines)


def _judged(f: dict[str, object]) -> str:
    judged = f.get("memory_judged_s")
    if not isinstance(judged, list):
        return "warm-up"
    return f"{judged[0]} to {judged[1]} s, the warm-up after the last upheaval"


def _ppm(cell: dict[str, object]) -> str:
    if not cell:
        return "-"
    return f"{cell['p50']} / {cell['p95']} / {cell['max']}"


def _kinds(result: SoakResult) -> str:
    counts: dict[str, int] = {}
    for incident in result.schedule:
        counts[incident["kind"]] = counts.get(incident["kind"], 0) + 1
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def _by_rule(unexplained: list[str]) -> str:
    """``["agent_offline on soak-lahat", ...]`` -> ``"17 (agent_offline 17)"``."""
    counts = Counter(item.split(" on ", 1)[0] for item in unexplained)
    return f"{len(unexplained)} ({', '.join(f'{rule} {n}' for rule, n in sorted(counts.items()))})" if counts else "0"


def _database(growth: dict[str, float]) -> str:
    if not growth:
        return "- **Database** growth: not measured."
    return (f"- **Database** growth at this rate: {growth['mb_per_day']} MB/day, of which {growth['raw_mb_per_day']} "
            f"MB/day raw (pruned after {growth['retention_days']:g} days, so it levels off there) and "
            f"{growth['kept_mb_per_day']} MB/day kept (status periods, dailies, alerts); with retention on, "
            f"about {growth['mb_after_a_year']:,.0f} MB after a year.")
