"""Back-test on the shared Price Paid samples: for each, train on every month but the last
three and test on those three (``doorstep valuation backtest``), with unit coordinates.

    python scripts/backtest_samples.py [--data ../shared/data] [--no-geo]
        [--validate | --folds N | --ceiling] [--sample NAME]

``--validate`` never looks at the test months: it drops them, then trains on the months
before the last three that remain and values those three. Choose designs and parameters on
these validation figures; report the test figures only for the design adopted.
``--folds N`` repeats that further back: fold k drops the test months and the 3(k-1) months
before them, then values the last three that remain (while at least three months are left
to train on), and reports each fold and their mean. One three-month window of SW19 holds
about 220 sales, too few to tell designs a point apart; twelve hold over 2,500.

``--ceiling`` measures what the evidence allows rather than the model: the training import
also holds the test months, so each test sale is valued from every sale completed before it
(the test months' earlier sales included) with an index that knows its month. No real
valuation has that; its MdAPE is a floor for what the test figures can reach with this data.

Prints one JSON object: the back-test's figures per sample."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SAMPLES = ("london_sw19_2010-2018", "greater_manchester_2019", "newcastle_ne_2022")
SAMPLE_AREAS = {"SW", "NE", "M", "BL", "OL", "SK", "WN", "WA"}
AREA = re.compile(r"([A-Z]{1,2})[0-9]")


def read(src: Path) -> list[list[str]]:
    with gzip.open(src, "rt", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def split(
    rows: list[list[str]],
    src: Path,
    folder: Path,
    months: int = 3,
    back: int = 0,
    ceiling: bool = False,
) -> tuple[Path, Path, list[str]]:
    """Training and test files: the test is the last ``months`` months once ``back`` windows
    of that many months have been dropped from the end."""
    if back:
        dropped = set(sorted({r[2][:7] for r in rows})[-months * back :])
        rows = [r for r in rows if r[2][:7] not in dropped]
    held = sorted({r[2][:7] for r in rows})[-months:]
    train, test = folder / f"{src.stem}.train.csv", folder / f"{src.stem}.test.csv"
    for path, keep in ((train, False), (test, True)):
        with path.open("w", newline="", encoding="utf-8") as out:
            w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerows(r for r in rows if (r[2][:7] in held) == keep or (ceiling and not keep))
    return train, test, held


def run(doorstep: str, train: Path, test: Path, geo: Path | None) -> dict[str, Any]:
    cmd = [doorstep, "valuation", "backtest", "--train", str(train), "--test", str(test)]
    if geo is not None:
        cmd += ["--geo", str(geo)]
    done = subprocess.run([*cmd, "--json", "--quiet"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    p.add_argument("--no-geo", action="store_true", help="Locate by sector centroids only.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--validate",
        action="store_true",
        help="Hold out the last three training months instead of the test months.",
    )
    mode.add_argument(
        "--folds",
        type=int,
        metavar="N",
        help="Validate on N three-month windows before the test months (see above).",
    )
    mode.add_argument(
        "--ceiling",
        action="store_true",
        help="Also train on the test months: what the evidence allows (see above).",
    )
    p.add_argument("--sample", action="append", choices=SAMPLES, help="Only these samples.")
    args = p.parse_args()
    doorstep = str(Path(sys.executable).parent / "doorstep")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        geo = folder / "units.csv"
        if not args.no_geo:
            # Only the areas of the samples: the whole NSPL file works too, just slower.
            units = args.data / "geo" / "uk_postcode_units_nspl_may2025.csv.gz"
            with gzip.open(units, "rt") as f, geo.open("w") as out:
                out.write(next(f))
                for line in f:
                    m = AREA.match(line)
                    if m and m.group(1) in SAMPLE_AREAS:
                        out.write(line)
        for name in args.sample or SAMPLES:
            src = args.data / "price-paid" / f"pp_{name}.csv.gz"
            rows = read(src)
            if args.folds is None:
                backs = [1 if args.validate else 0]
            else:
                total = len({r[2][:7] for r in rows})
                backs = [k for k in range(1, args.folds + 1) if total - 3 * (k + 1) >= 3]
            folds = []
            for back in backs:
                train, test, held = split(rows, src, folder, back=back, ceiling=args.ceiling)
                result = run(doorstep, train, test, None if args.no_geo else geo)
                result["test_months"] = held
                folds.append(result)
                print(
                    f"{name} {held[0]}..{held[-1]}: count {result['count']}, MdAPE "
                    f"{result['mdape']}%, within 10% {result['within_10pct']}%, within 20% "
                    f"{result['within_20pct']}%, interval coverage {result['interval_coverage']}%",
                    file=sys.stderr,
                )
            if args.folds is None:
                results[name] = folds[0]
            else:
                counts = sum(f["count"] for f in folds)
                mean = {
                    k: round(sum(f[k] * f["count"] for f in folds) / counts, 2)
                    for k in ("mdape", "within_10pct", "within_20pct", "interval_coverage")
                }
                print(f"{name}: {len(folds)} folds, {counts} sales, mean {mean}", file=sys.stderr)
                results[name] = {"folds": folds, "count": counts, "mean": mean}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
