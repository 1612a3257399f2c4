#!/usr/bin/env python3
"""Reference values for the Rust churn models (tests/fixtures/churn/reference.json).

Two independent implementations, at FIXED parameters:
  * mpmath at 40 significant digits, written from the papers' formulas (BG/NBD: Fader, Hardie &
    Lee 2005 eqs. 10 and 13; Pareto/NBD: Fader & Hardie 2005 note, eqs. for A0, P(alive), E[Y]);
    these are the values the Rust tests compare against;
  * Python `lifetimes` 0.11.3 (scipy double precision), stored beside them so the agreement of
    the two references can be seen.
Also: 2F1 values from mpmath, the CDNOW RFM summary as lifetimes computes it, and lifetimes'
Gamma-Gamma fit on it.

Run: python3 -m venv /tmp/lt-venv && /tmp/lt-venv/bin/pip install lifetimes mpmath
     /tmp/lt-venv/bin/python scripts/churn/reference_values.py
"""
import json
import os

import mpmath as mp
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

mp.mp.dps = 40
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures", "churn")

# (x, t_x, T, horizon): low/high frequency, recency 0, recency = T, long T, long horizons.
CASES = [
    (0, 0.0, 38.857142857142854, 39.0),
    (0, 0.0, 1.0, 10.0),
    (0, 0.0, 500.0, 52.0),
    (1, 1.7142857142857142, 38.857142857142854, 39.0),
    (1, 38.0, 38.0, 4.0),
    (2, 30.428571428571427, 38.857142857142854, 39.0),
    (3, 5.0, 30.0, 100.0),
    (5, 25.0, 27.5, 1.0),
    (7, 32.0, 36.0, 39.0),
    (14, 35.5, 38.0, 39.0),
    (29, 38.5, 38.9, 200.0),
    (50, 100.0, 400.0, 52.0),
    (4, 2.0, 300.0, 39.0),
    (10, 200.0, 1000.0, 500.0),
]


def f(v):
    return float(v)


# ---------------------------------------------------------------- BG/NBD (mpmath)
def bg_p_alive(p, x, tx, T):
    r, alpha, a, b = map(mp.mpf, p)
    x, tx, T = mp.mpf(x), mp.mpf(tx), mp.mpf(T)
    if x == 0:
        return mp.mpf(1)
    return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))


def bg_expected(p, x, tx, T, t):
    r, alpha, a, b = map(mp.mpf, p)
    x, tx, T, t = mp.mpf(x), mp.mpf(tx), mp.mpf(T), mp.mpf(t)
    z = t / (alpha + T + t)
    hyp = mp.hyp2f1(r + x, b + x, a + b + x - 1, z)
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    den = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x) if x > 0 else 0)
    return num / den


def bg_loglik(p, x, tx, T):
    r, alpha, a, b = map(mp.mpf, p)
    x, tx, T = mp.mpf(x), mp.mpf(tx), mp.mpf(T)
    beta_fn = mp.beta(a, b + x) / mp.beta(a, b)
    gam = mp.gamma(r + x) * alpha**r / mp.gamma(r)
    like = beta_fn * gam / (alpha + T) ** (r + x)
    if x > 0:
        like += mp.beta(a + 1, b + x - 1) / mp.beta(a, b) * gam / (alpha + tx) ** (r + x)
    return mp.log(like)


# ---------------------------------------------------------------- Pareto/NBD (mpmath)
def pa_a0(p, x, tx, T):
    r, alpha, s, beta = map(mp.mpf, p)
    x, tx, T = mp.mpf(x), mp.mpf(tx), mp.mpf(T)
    m = r + s + x
    if alpha >= beta:
        g = lambda t: mp.hyp2f1(m, s + 1, m + 1, (alpha - beta) / (alpha + t)) / (alpha + t) ** m
    else:
        g = lambda t: mp.hyp2f1(m, r + x, m + 1, (beta - alpha) / (beta + t)) / (beta + t) ** m
    return g(tx) - g(T)


def pa_p_alive(p, x, tx, T):
    r, alpha, s, beta = map(mp.mpf, p)
    xm, Tm = mp.mpf(x), mp.mpf(T)
    a0 = pa_a0(p, x, tx, T)
    return 1 / (1 + s / (r + s + xm) * (alpha + Tm) ** (r + xm) * (beta + Tm) ** s * a0)


def pa_expected(p, x, tx, T, t):
    r, alpha, s, beta = map(mp.mpf, p)
    xm, Tm, tm = mp.mpf(x), mp.mpf(T), mp.mpf(t)
    growth = (1 - ((beta + Tm) / (beta + Tm + tm)) ** (s - 1)) / (s - 1)
    return pa_p_alive(p, x, tx, T) * (r + xm) * (beta + Tm) / (alpha + Tm) * growth


def pa_loglik(p, x, tx, T):
    r, alpha, s, beta = map(mp.mpf, p)
    xm, Tm = mp.mpf(x), mp.mpf(T)
    front = mp.gamma(r + xm) * alpha**r * beta**s / mp.gamma(r)
    bracket = 1 / ((alpha + Tm) ** (r + xm) * (beta + Tm) ** s) + s / (r + s + xm) * pa_a0(p, x, tx, T)
    return mp.log(front * bracket)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def model_block(name, params, names, p_alive, expected, loglik, fitter_cls):
    fitter = fitter_cls()
    fitter.params_ = pd.Series(dict(zip(names, params)))
    cases = []
    worst = 0.0
    for x, tx, T, t in CASES:
        ref_pa = f(p_alive(params, x, tx, T))
        ref_e = f(expected(params, x, tx, T, t))
        lt_pa = f(np.atleast_1d(fitter.conditional_probability_alive(x, tx, T))[0])
        lt_e = f(np.atleast_1d(fitter.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T))[0])
        worst = max(worst, rel(lt_pa, ref_pa), rel(lt_e, ref_e))
        cases.append(
            dict(
                frequency=x, recency=tx, t=T, horizon=t,
                p_alive=ref_pa, expected_purchases=ref_e, log_likelihood=f(loglik(params, x, tx, T)),
                lifetimes_p_alive=lt_pa, lifetimes_expected_purchases=lt_e,
            )
        )
    print(f"{name} {params}: max relative difference lifetimes vs mpmath = {worst:.2e}")
    return dict(params=dict(zip(names, params)), cases=cases)


def main():
    out = {"generated_by": "scripts/churn/reference_values.py", "mpmath_dps": mp.mp.dps}
    out["bgnbd"] = [
        model_block("bgnbd", p, ["r", "alpha", "a", "b"], bg_p_alive, bg_expected, bg_loglik, BetaGeoFitter)
        for p in [(0.243, 4.414, 0.793, 2.426), (1.7, 0.5, 2.5, 0.9)]
    ]
    # alpha < beta (the CDNOW fit), alpha > beta, alpha = beta, and s near 1 / s > 1.
    out["pareto"] = [
        model_block("pareto", p, ["r", "alpha", "s", "beta"], pa_p_alive, pa_expected, pa_loglik, ParetoNBDFitter)
        for p in [(0.553, 10.58, 0.606, 11.67), (0.9, 25.0, 1.4, 3.0), (0.4, 6.0, 0.8, 6.0), (2.1, 1.5, 0.35, 40.0)]
    ]
    hyp = []
    for a, b, c, z in [
        (0.5, 0.5, 1.5, 0.3), (2.3, 4.1, 3.3, 0.47), (0.243, 2.426, 2.219, 0.8), (12.0, 1.6, 13.0, 0.09),
        (29.9, 30.0, 30.9, 0.95), (1.5, 2.5, 0.7, 0.99), (-3.5, 1.2, 2.2, -0.8), (5.0, 7.0, 4.0, 0.999),
    ]:
        hyp.append(dict(a=a, b=b, c=c, z=z, value=f(mp.hyp2f1(a, b, c, z))))
    out["hyp2f1"] = hyp

    # CDNOW summary and Gamma-Gamma exactly as lifetimes computes them.
    df = pd.read_csv(os.path.join(FIXTURES, "CDNOW_sample.txt"), sep=r"\s+", header=None,
                     names=["master", "id", "date", "cds", "dollars"])
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    s = summary_data_from_transaction_data(df, "id", "date", monetary_value_col="dollars",
                                           observation_period_end="1997-09-30", freq="D")
    s["recency"] /= 7.0
    s["T"] /= 7.0
    s.to_csv(os.path.join(FIXTURES, "cdnow_summary_lifetimes.csv"))
    repeat = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    sample_ids = [1, 2, 3, 18, 100, 1000]
    out["gamma_gamma"] = dict(
        params={k: f(v) for k, v in gg.params_.items()},
        expected_average_value=[
            dict(customer=str(i), frequency=f(s.loc[i, "frequency"]), monetary=f(s.loc[i, "monetary_value"]),
                 value=f(gg.conditional_expected_average_profit(s.loc[i, "frequency"], s.loc[i, "monetary_value"])))
            for i in sample_ids
        ],
    )
    with open(os.path.join(FIXTURES, "reference.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print("gamma-gamma", dict(gg.params_))


if __name__ == "__main__":
    main()
