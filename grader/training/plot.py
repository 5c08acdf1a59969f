"""Loss-curve figure for reports (matplotlib Agg canvas; no global backend change)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence


def loss_curve_png(
    curves: Mapping[int | str, Sequence[float]],
    path: Path | str,
    title: str | None = None,
    xlabel: str = "iteration",
    smooth: int = 0,
) -> Path:
    """Plot one line per seed; ``smooth`` > 1 adds a running mean of that window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for seed, curve in curves.items():
        ys = [float(v) if v is not None and math.isfinite(float(v)) else float("nan") for v in curve]
        line, = ax.plot(range(1, len(ys) + 1), ys, linewidth=0.8, alpha=0.5 if smooth > 1 else 1.0, label=f"seed {seed}")
        if smooth > 1 and len(ys) >= smooth:
            run = [sum(ys[i - smooth + 1 : i + 1]) / smooth for i in range(smooth - 1, len(ys))]
            ax.plot(range(smooth, len(ys) + 1), run, color=line.get_color(), linewidth=1.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training loss")
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(loc="upper right", fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
