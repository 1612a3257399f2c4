#!/usr/bin/env python3
"""Fit the same data as `cargo bench --bench churn` with Python lifetimes 0.11.3, for a side-by-side.

Reads the CDNOW fixture and the synthetic RFM CSVs the Rust bench wrote (default target/churn-bench),
times each fit (median of --runs), and prints a table. Two lifetimes variants:
  * plain: one row per customer, as lifetimes is normally used;
  * weighted: identical (frequency, recency, T) rows grouped and fitted with `weights=` counts —
    lifetimes' best case (synthetic times are on a day grid, so rows repeat).
Grouping time is included in the weighted timings.

Run (after the Rust bench):
    /tmp/lt-venv/bin/python scripts/churn/lifetimes_bench.py --runs 5 [--out target/churn-bench] \
        [--master ../shared/data/cdnow/CDNOW_master.txt]
With --master, the whole CDNOW master (23 570 customers) is fitted too, as of 1998-07-01 as
`seen churn fit --as-of 1998-07-01T00:00:00Z` fits it.
"""
import argparse
import json
import os
import statistics
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def cdnow_summary():
    df = pd.read_csv(os.path.join(ROOT, "tests/fixtures/churn/CDNOW_sample.txt"), sep=r"\s+", header=None,
                     names=["master", "id", "date", "cds", "dollars"])
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    s = summary_data_from_transaction_data(df, "id", "date", monetary_value_col="dollars",
                                           observation_period_end="1997-09-30", freq="D")
    s["recency"] /= 7.0
    s["T"] /= 7.0
    return s


def master_summary(path):
    """The whole CDNOW master as `seen churn fit --as-of 1998-07-01T00:00:00Z` sees it: every purchase, T to
    the last day before that instant (1998-06-30), in weeks."""
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "date", "cds", "dollars"], dtype=str)
    df = df[df["date"].str.fullmatch(r"\d{8}")]  # the header line is not a purchase
    df["dollars"] = df["dollars"].astype(float)
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    s = summary_data_from_transaction_data(df, "id", "date", monetary_value_col="dollars",
                                           observation_period_end="1998-06-30", freq="D")
    s["recency"] /= 7.0
    s["T"] /= 7.0
    return s


def fit_count(cls, data, weighted):
    if weighted:
        g = data.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
        return cls().fit(g["frequency"], g["recency"], g["T"], weights=g["weights"]), len(g)
    return cls().fit(data["frequency"], data["recency"], data["T"]), len(data)


def timed(runs, fn, limit_s):
    times, result = [], None
    for i in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > limit_s and i + 1 < runs:
            print(f"  (stopping after {i + 1} runs: {sum(times):.0f} s spent)", flush=True)
            break
    return times, result


def params_text(fitter):
    return " ".join(f"{k}={v:.4f}" for k, v in fitter.params_.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "target/churn-bench"))
    ap.add_argument("--limit", type=float, default=1800.0, help="seconds per row before running fewer runs")
    ap.add_argument("--only", default="", help="run only rows whose 'dataset/model/variant' contains this")
    ap.add_argument("--exclude", default="", help="skip rows whose 'dataset/model/variant' contains this")
    ap.add_argument("--results", default="lifetimes_results.json", help="file name under --out")
    ap.add_argument("--master", default="", help="also fit the whole CDNOW master (CDNOW_master.txt) as of 1998-07-01")
    args = ap.parse_args()

    rows = []
    s = cdnow_summary()
    datasets = [("CDNOW", s, None)]
    if args.master:
        datasets.append(("CDNOW_master", master_summary(args.master), None))
    for name, cls in [("bgnbd", BetaGeoFitter), ("pareto", ParetoNBDFitter)]:
        path = os.path.join(args.out, f"synthetic_{name}.csv")
        if os.path.exists(path):
            datasets.append((f"synthetic_{name}", pd.read_csv(path), cls))

    for label, data, only in datasets:
        for model, cls in [("BG/NBD", BetaGeoFitter), ("Pareto/NBD", ParetoNBDFitter)]:
            if only is not None and cls is not only:
                continue
            for weighted in (False, True):
                variant = "weighted" if weighted else "plain"
                key = f"{label}/{model}/{variant}"
                if (args.only and args.only not in key) or (args.exclude and args.exclude in key):
                    continue
                print(f"{label} {model} {variant} ...", flush=True)
                times, (fitter, nrows) = timed(args.runs, lambda: fit_count(cls, data, weighted), args.limit)
                rows.append(dict(dataset=label, model=model, variant=variant, customers=len(data), rows=nrows,
                                 runs=len(times), median_ms=statistics.median(times) * 1e3,
                                 times_ms=[t * 1e3 for t in times], params=params_text(fitter)))
    repeat = s[s["frequency"] > 0]
    if args.only and args.only not in "CDNOW/Gamma-Gamma/plain":
        repeat = None
    if repeat is None:
        return report(rows, args)
    times, gg = timed(args.runs, lambda: GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"]),
                      args.limit)
    rows.append(dict(dataset="CDNOW", model="Gamma-Gamma", variant="plain", customers=len(repeat),
                     rows=len(repeat), runs=len(times), median_ms=statistics.median(times) * 1e3,
                     times_ms=[t * 1e3 for t in times], params=params_text(gg)))
    report(rows, args)


def report(rows, args):
    print("\n| data | model | variant | customers | rows fitted | runs | median ms | parameters |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['model']} | {r['variant']} | {r['customers']} | {r['rows']} | {r['runs']} "
              f"| {r['median_ms']:.1f} | {r['params']} |")
    with open(os.path.join(args.out, args.results), "w") as fh:
        json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
