"""Shared pieces of the benchmarks: a corpus of realistic statements, RSS, a table printer."""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# Sentences an actor might say, by topic, in both directions and several strengths. Written for the
# benchmark; the point is realistic length and vocabulary, not any particular outcome.
SENTENCES = [
    "We are ready for dialogue with Washington if the other side shows genuine interest.",
    "There will be no talks while the aggression continues.",
    "The goals of the operation remain unchanged and will be achieved.",
    "Nobody has ever said that our aims were changing; on the contrary, they remain the same.",
    "A ceasefire now would only let the other side regroup and rearm.",
    "We accept an immediate ceasefire along the entire line of contact.",
    "The sanctions will stay in place for as long as necessary.",
    "The sanctions should be lifted, because they hurt Europe more than anyone else.",
    "Our response to the new sanctions will be harsh and asymmetric.",
    "Any response will be measured and carefully calibrated.",
    "We will continue to supply air defence systems to Kyiv.",
    "We have no plans to send fighter jets.",
    "Gas deliveries will not resume until the restrictions are lifted.",
    "We remain a reliable supplier and will honour every contract in full.",
    "The exercises are defensive and not directed against any country.",
    "Those who play with fire will get burned, and the army is ready to fight at any time.",
    "A tariff of 25 percent will apply to all imports from the country from next month.",
    "The tariff will rise to 60 percent if there is no deal.",
    "Prisoner exchanges will continue through the existing channels.",
    "All prisoner exchanges are suspended until further notice.",
    "Membership of the alliance is not on the agenda.",
    "The government has decided to apply for membership of the alliance.",
    "Western media claim that Moscow has scaled back its goals, but that is a fabrication.",
    "Our troops will return to their bases after the drills, as planned.",
    "Units will stay in the region for as long as the situation requires.",
    "We regard the election results as legitimate and will work with the new government.",
    "The results cannot be recognised without the full polling-station records.",
    "Nuclear weapons may be used only in response to a nuclear strike or an existential threat.",
]


def statements(n: int, *, actors: int = 200, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``n`` statement events of 1-4 sentences, spread over ``actors`` actors, deterministic for a seed."""
    rng = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n):
        actor = f"actor-{rng.randrange(actors):04d}"
        text = " ".join(rng.sample(SENTENCES, rng.randint(1, 4)))
        yield {
            "id": f"bench-{i:08d}",
            "actor": actor,
            "speaker": f"Spokesperson {actor[-2:]}",
            "text": text,
            "published_at": (base + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "source_url": f"https://news.example.org/{i}",
            "language": "en",
        }


def encoded(n: int, **kw: Any) -> list[tuple[bytes, bytes]]:
    return [(s["actor"].encode(), json.dumps(s).encode()) for s in statements(n, **kw)]


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process, in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[:1]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "java": java[0] if java else None, "os": platform.platform()}


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    out = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    out += ["  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    return str(v)


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
