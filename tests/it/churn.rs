//! Churn models on CDNOW against the published parameters, against independent reference values
//! (mpmath and Python lifetimes, see scripts/churn/reference_values.py), the holdout check, and
//! degenerate input.

use std::path::Path;
use std::sync::OnceLock;

use seen::churn::{
    holdout_check, predict, rfm_summary, simulate, BgNbdParams, ChurnError, CustomerRfm,
    FittedModel, GammaGamma, ModelKind, ModelParams, ParetoNbdParams, Period, Rfm, RfmOptions,
    Transaction,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/churn")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn cdnow_transactions() -> &'static [Transaction] {
    static CELL: OnceLock<Vec<Transaction>> = OnceLock::new();
    CELL.get_or_init(|| {
        fixture("CDNOW_sample.txt")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let d = cols[2];
                Transaction {
                    // sample ids are zero-padded ("0001"); lifetimes reads them as integers.
                    customer: cols[1].trim_start_matches('0').to_string(),
                    at: ts(&format!("{}-{}-{}T00:00:00Z", &d[0..4], &d[4..6], &d[6..8])),
                    value: cols[4].parse().unwrap(),
                }
            })
            .collect()
    })
}

const CALIBRATION_END: &str = "1997-10-01T00:00:00Z";
const HOLDOUT_END: &str = "1998-07-01T00:00:00Z";

fn cdnow_summary() -> &'static [CustomerRfm] {
    static CELL: OnceLock<Vec<CustomerRfm>> = OnceLock::new();
    CELL.get_or_init(|| {
        rfm_summary(
            cdnow_transactions(),
            &RfmOptions {
                period: Period::Week,
                calibration_end: ts(CALIBRATION_END),
            },
        )
        .unwrap()
    })
}

fn cdnow_rfm() -> Vec<Rfm> {
    cdnow_summary().iter().map(|c| c.rfm).collect()
}

fn assert_sig3(actual: f64, published: f64, what: &str) {
    // "Reproduces to 3 significant digits": rounds to the published figure.
    let digits = 3 - 1 - published.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    assert_eq!(
        (actual * scale).round() / scale,
        published,
        "{what}: fitted {actual}, published {published}"
    );
}

fn assert_rel(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let rel = (actual - expected).abs() / expected.abs().max(1e-300);
    assert!(
        rel <= tolerance,
        "{what}: {actual} vs {expected} (relative error {rel:e})"
    );
}

#[test]
fn churn_cdnow_summary_matches_lifetimes() {
    let ours = cdnow_summary();
    let reference = fixture("cdnow_summary_lifetimes.csv");
    let mut lines = reference.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,frequency,recency,T,monetary_value"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(ours.len(), 2357);
    assert_eq!(rows.len(), ours.len());
    let mut by_id: Vec<&CustomerRfm> = ours.iter().collect();
    by_id.sort_by_key(|c| c.customer.parse::<u32>().unwrap());
    for (row, c) in rows.iter().zip(by_id) {
        assert_eq!(row[0], c.customer);
        let want: Vec<f64> = row[1..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(c.rfm.frequency, want[0], "customer {}", c.customer);
        assert!(
            (c.rfm.recency - want[1]).abs() < 1e-12,
            "customer {}",
            c.customer
        );
        assert!((c.rfm.t - want[2]).abs() < 1e-12, "customer {}", c.customer);
        assert!(
            (c.monetary - want[3]).abs() < 1e-9,
            "customer {}",
            c.customer
        );
    }
    assert_eq!(ours.iter().filter(|c| c.rfm.frequency > 0.0).count(), 946);
}

#[test]
fn churn_cdnow_bgnbd_reproduces_published_fit() {
    let model = FittedModel::fit(ModelKind::BgNbd, &cdnow_rfm(), Period::Week).unwrap();
    let ModelParams::BgNbd(BgNbdParams { r, alpha, a, b }) = model.params else {
        panic!("wrong params {:?}", model.params)
    };
    assert_sig3(r, 0.243, "r");
    assert_sig3(alpha, 4.41, "alpha"); // published 4.414
    assert_rel(alpha, 4.414, 5e-4, "alpha");
    assert_sig3(a, 0.793, "a");
    assert_sig3(b, 2.43, "b"); // published 2.426
    assert_rel(b, 2.426, 5e-4, "b");
    assert!(
        (model.log_likelihood - -9582.4).abs() < 0.05,
        "{}",
        model.log_likelihood
    );
    assert!(model.converged);
    assert_eq!(model.customers, 2357);
    assert!(model.iterations > 0);
}

#[test]
fn churn_cdnow_pareto_reproduces_published_fit() {
    let model = FittedModel::fit(ModelKind::ParetoNbd, &cdnow_rfm(), Period::Week).unwrap();
    let ModelParams::ParetoNbd(ParetoNbdParams { r, alpha, s, beta }) = model.params else {
        panic!("wrong params {:?}", model.params)
    };
    assert_sig3(r, 0.553, "r");
    assert_sig3(alpha, 10.6, "alpha"); // published 10.58
    assert_rel(alpha, 10.58, 5e-4, "alpha");
    assert_sig3(s, 0.606, "s");
    assert_sig3(beta, 11.7, "beta"); // published 11.67
    assert_rel(beta, 11.67, 5e-4, "beta");
    assert!(
        (model.log_likelihood - -9595.0).abs() < 0.05,
        "{}",
        model.log_likelihood
    );
    assert!(model.converged);
}

#[test]
fn churn_cdnow_gamma_gamma_matches_lifetimes() {
    let reference: Value = serde_json::from_str(&fixture("reference.json")).unwrap();
    let gg = GammaGamma::fit(cdnow_summary()).unwrap();
    let want = &reference["gamma_gamma"]["params"];
    // lifetimes stops at scipy's default BFGS tolerance; both are at the same optimum to ~1e-4.
    assert_rel(gg.p, want["p"].as_f64().unwrap(), 1e-3, "p");
    assert_rel(gg.q, want["q"].as_f64().unwrap(), 1e-3, "q");
    assert_rel(gg.v, want["v"].as_f64().unwrap(), 1e-3, "v");
    assert_sig3(gg.p, 6.25, "p");
    assert_sig3(gg.q, 3.74, "q");
    assert_sig3(gg.v, 15.4, "v");
    assert_eq!(gg.customers, 946);
    for case in reference["gamma_gamma"]["expected_average_value"]
        .as_array()
        .unwrap()
    {
        let customer = case["customer"].as_str().unwrap();
        let c = cdnow_summary()
            .iter()
            .find(|c| c.customer == customer)
            .unwrap();
        assert_eq!(c.rfm.frequency, case["frequency"].as_f64().unwrap());
        let ours = gg.expected_average_value(c.rfm.frequency, c.monetary);
        assert_rel(ours, case["value"].as_f64().unwrap(), 1e-4, customer);
    }
}

fn reference_params(kind: ModelKind, p: &Value) -> ModelParams {
    let g = |k: &str| p[k].as_f64().unwrap();
    match kind {
        ModelKind::BgNbd => ModelParams::BgNbd(BgNbdParams {
            r: g("r"),
            alpha: g("alpha"),
            a: g("a"),
            b: g("b"),
        }),
        ModelKind::ParetoNbd => ModelParams::ParetoNbd(ParetoNbdParams {
            r: g("r"),
            alpha: g("alpha"),
            s: g("s"),
            beta: g("beta"),
        }),
    }
}

#[test]
fn churn_conditional_expectations_agree_with_reference() {
    let reference: Value = serde_json::from_str(&fixture("reference.json")).unwrap();
    let mut checked = 0;
    for (key, kind) in [
        ("bgnbd", ModelKind::BgNbd),
        ("pareto", ModelKind::ParetoNbd),
    ] {
        for block in reference[key].as_array().unwrap() {
            let params = reference_params(kind, &block["params"]);
            for case in block["cases"].as_array().unwrap() {
                let rfm = Rfm {
                    frequency: case["frequency"].as_f64().unwrap(),
                    recency: case["recency"].as_f64().unwrap(),
                    t: case["t"].as_f64().unwrap(),
                };
                let horizon = case["horizon"].as_f64().unwrap();
                let what = format!("{key} {params:?} {rfm:?} horizon {horizon}");
                for (field, ours) in [
                    ("p_alive", params.p_alive(&rfm)),
                    (
                        "expected_purchases",
                        params.expected_purchases(&rfm, horizon),
                    ),
                    ("log_likelihood", params.log_likelihood(&rfm)),
                ] {
                    assert_rel(
                        ours,
                        case[field].as_f64().unwrap(),
                        1e-6,
                        &format!("{what} {field}"),
                    );
                    checked += 1;
                }
                // And against lifetimes itself.
                assert_rel(
                    params.p_alive(&rfm),
                    case["lifetimes_p_alive"].as_f64().unwrap(),
                    1e-6,
                    &what,
                );
                assert_rel(
                    params.expected_purchases(&rfm, horizon),
                    case["lifetimes_expected_purchases"].as_f64().unwrap(),
                    1e-6,
                    &what,
                );
            }
        }
    }
    assert!(checked >= 6 * 14 * 3);
}

#[test]
fn churn_hyp2f1_agrees_with_mpmath() {
    let reference: Value = serde_json::from_str(&fixture("reference.json")).unwrap();
    for case in reference["hyp2f1"].as_array().unwrap() {
        let g = |k: &str| case[k].as_f64().unwrap();
        let ours = seen::churn::special::hyp2f1(g("a"), g("b"), g("c"), g("z")).unwrap();
        assert_rel(ours, g("value"), 1e-12, &format!("{case}"));
    }
}

#[test]
fn churn_predict_combines_models() {
    let rfm = cdnow_rfm();
    let model = FittedModel::fit(ModelKind::BgNbd, &rfm, Period::Week).unwrap();
    let gg = GammaGamma::fit(cdnow_summary()).unwrap();
    let predictions = predict(&model, Some(&gg), cdnow_summary(), 52.0);
    assert_eq!(predictions.len(), 2357);
    for (p, c) in predictions.iter().zip(cdnow_summary()) {
        assert_eq!(p.customer, c.customer);
        assert!((0.0..=1.0).contains(&p.p_alive));
        assert!(p.expected_purchases.is_finite() && p.expected_purchases >= 0.0);
        let value = p.expected_average_value.unwrap();
        assert_eq!(p.expected_value.unwrap(), value * p.expected_purchases);
    }
    // Customer 1: two repeat purchases, the last at week 30.4 of 38.9.
    let first = predictions.iter().find(|p| p.customer == "1").unwrap();
    assert!(first.p_alive > 0.5 && first.p_alive < 1.0);
    let without_spend = predict(&model, None, &cdnow_summary()[..3], 52.0);
    assert!(without_spend.iter().all(|p| p.expected_value.is_none()));
}

#[test]
fn churn_fitted_model_json_round_trip() {
    let model = FittedModel::fit(ModelKind::ParetoNbd, &cdnow_rfm(), Period::Week).unwrap();
    let json = serde_json::to_value(&model).unwrap();
    assert_eq!(json["kind"], "pareto");
    assert_eq!(json["period"], "week");
    assert!(json["params"]["beta"].as_f64().is_some());
    let back: FittedModel = serde_json::from_value(json).unwrap();
    assert_eq!(back, model);
    assert_eq!("bgnbd".parse::<ModelKind>().unwrap(), ModelKind::BgNbd);
    assert_eq!("pareto".parse::<ModelKind>().unwrap(), ModelKind::ParetoNbd);
    assert!("nbd".parse::<ModelKind>().is_err());
}

#[test]
fn churn_cdnow_holdout_check() {
    for kind in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
        let report = holdout_check(
            kind,
            cdnow_transactions(),
            Period::Week,
            ts(CALIBRATION_END),
            ts(HOLDOUT_END),
        )
        .unwrap();
        assert_eq!(report.customers, 2357);
        assert_eq!(report.holdout_length, 39.0);
        // CDNOW sample: 1 882 repeat purchase occasions (distinct days) in weeks 40-78 by the
        // 2 357 calibration customers. lifetimes, fitted and predicting on the same data, forecasts
        // 1 653.4 (BG/NBD) and 1 665.5 (Pareto/NBD): both models under-forecast CDNOW by ~12%.
        assert_eq!(report.actual_total, 1882.0, "{kind}");
        let ratio = report.predicted_total / report.actual_total;
        assert!((0.8..1.05).contains(&ratio), "{kind}: ratio {ratio}");
        let lifetimes_total = match kind {
            ModelKind::BgNbd => 1653.4087,
            ModelKind::ParetoNbd => 1665.4541,
        };
        assert_rel(
            report.predicted_total,
            lifetimes_total,
            1e-3,
            "predicted total",
        );
        assert!(report.mean_absolute_error > 0.0 && report.mean_absolute_error < 1.5);
        assert_eq!(report.by_frequency.len(), 8);
        for (i, row) in report.by_frequency.iter().enumerate() {
            assert_eq!(row.frequency as usize, i);
            assert_eq!(row.or_more, i == 7);
            assert!(row.customers > 0);
        }
        assert_eq!(
            report
                .by_frequency
                .iter()
                .map(|r| r.customers)
                .sum::<usize>(),
            2357
        );
        // Conditional expectations rise with past frequency, as the actuals do.
        let predicted: Vec<f64> = report
            .by_frequency
            .iter()
            .map(|r| r.mean_predicted)
            .collect();
        assert!(predicted.windows(2).all(|w| w[0] < w[1]), "{predicted:?}");
        let zero = &report.by_frequency[0];
        assert!((zero.mean_actual - 0.236712).abs() < 1e-6);
        assert!((zero.mean_predicted - zero.mean_actual).abs() < 0.15);
    }
}

fn day(d: &str, customer: &str, value: f64) -> Transaction {
    Transaction {
        customer: customer.into(),
        at: ts(&format!("{d}T12:00:00Z")),
        value,
    }
}

#[test]
fn churn_degenerate_no_customers() {
    for kind in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
        assert_eq!(
            FittedModel::fit(kind, &[], Period::Week).unwrap_err(),
            ChurnError::NoCustomers
        );
    }
    assert_eq!(GammaGamma::fit(&[]).unwrap_err(), ChurnError::NoCustomers);
    let err = holdout_check(
        ModelKind::BgNbd,
        &[],
        Period::Week,
        ts(CALIBRATION_END),
        ts(HOLDOUT_END),
    )
    .unwrap_err();
    assert_eq!(err, ChurnError::NoCustomers);
}

#[test]
fn churn_degenerate_one_customer() {
    let one = [Rfm {
        frequency: 3.0,
        recency: 10.0,
        t: 20.0,
    }];
    for kind in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
        assert_eq!(
            FittedModel::fit(kind, &one, Period::Week).unwrap_err(),
            ChurnError::TooFewCustomers {
                customers: 1,
                needed: 2
            }
        );
    }
}

#[test]
fn churn_degenerate_no_repeat_buyers() {
    let transactions = vec![
        day("2024-01-01", "a", 5.0),
        day("2024-01-03", "b", 5.0),
        day("2024-02-01", "c", 5.0),
    ];
    let summary = rfm_summary(
        &transactions,
        &RfmOptions {
            period: Period::Week,
            calibration_end: ts("2024-03-01T00:00:00Z"),
        },
    )
    .unwrap();
    let rfm: Vec<Rfm> = summary.iter().map(|c| c.rfm).collect();
    for kind in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
        assert_eq!(
            FittedModel::fit(kind, &rfm, Period::Week).unwrap_err(),
            ChurnError::NoRepeatBuyers
        );
    }
    assert_eq!(
        GammaGamma::fit(&summary).unwrap_err(),
        ChurnError::NoRepeatBuyers
    );
}

#[test]
fn churn_degenerate_everyone_bought_on_one_day() {
    // All purchases on the last calibration day: T = 0 for everybody.
    let transactions = vec![
        day("2024-02-29", "a", 5.0),
        day("2024-02-29", "a", 7.0),
        day("2024-02-29", "b", 5.0),
    ];
    let summary = rfm_summary(
        &transactions,
        &RfmOptions {
            period: Period::Day,
            calibration_end: ts("2024-03-01T00:00:00Z"),
        },
    )
    .unwrap();
    assert!(summary.iter().all(|c| c.rfm.t == 0.0));
    let rfm: Vec<Rfm> = summary.iter().map(|c| c.rfm).collect();
    for kind in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
        assert_eq!(
            FittedModel::fit(kind, &rfm, Period::Day).unwrap_err(),
            ChurnError::NoObservationTime
        );
    }
}

#[test]
fn churn_degenerate_bad_values() {
    for value in [f64::NAN, -3.0, f64::INFINITY] {
        let transactions = vec![day("2024-01-01", "a", 5.0), day("2024-01-05", "a", value)];
        let options = RfmOptions {
            period: Period::Week,
            calibration_end: ts("2024-03-01T00:00:00Z"),
        };
        let err = rfm_summary(&transactions, &options).unwrap_err();
        assert!(
            matches!(err, ChurnError::InvalidValue { index: 1, ref customer, .. } if customer == "a"),
            "{err:?}"
        );
        let err = holdout_check(
            ModelKind::BgNbd,
            &transactions,
            Period::Week,
            options.calibration_end,
            ts("2024-06-01T00:00:00Z"),
        )
        .unwrap_err();
        assert!(matches!(err, ChurnError::InvalidValue { .. }));
    }
    // Bad summaries given directly.
    let ok = Rfm {
        frequency: 1.0,
        recency: 1.0,
        t: 2.0,
    };
    for bad in [
        Rfm {
            recency: f64::NAN,
            ..ok
        },
        Rfm { t: -1.0, ..ok },
        Rfm { recency: 5.0, ..ok },
    ] {
        let err = FittedModel::fit(ModelKind::BgNbd, &[ok, bad], Period::Week).unwrap_err();
        assert!(
            matches!(err, ChurnError::InvalidRfm { index: 1, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn churn_degenerate_non_finite_likelihood_is_an_error() {
    // A frequency beyond what the likelihood can represent is refused up front. (An optimum
    // with a non-finite likelihood is refused too: unit test `churn_non_finite_optimum_is_an_error`.)
    let data = [
        Rfm {
            frequency: 1e300,
            recency: 1.0,
            t: 2.0,
        },
        Rfm {
            frequency: 0.0,
            recency: 0.0,
            t: 2.0,
        },
    ];
    let err = FittedModel::fit(ModelKind::BgNbd, &data, Period::Week).unwrap_err();
    assert!(
        matches!(
            err,
            ChurnError::InvalidRfm { .. }
                | ChurnError::NonFiniteLikelihood { .. }
                | ChurnError::Optimizer(_)
        ),
        "{err:?}"
    );
    let data = [
        Rfm {
            frequency: 3.0,
            recency: 1e308,
            t: f64::MAX,
        },
        Rfm {
            frequency: 1.0,
            recency: 1.0,
            t: f64::MAX,
        },
    ];
    // Finite at the start but flat: either an error or an honest "not converged", never NaN.
    match FittedModel::fit(ModelKind::BgNbd, &data, Period::Week) {
        Err(err) => assert!(
            matches!(
                err,
                ChurnError::NonFiniteLikelihood { .. } | ChurnError::Optimizer(_)
            ),
            "{err:?}"
        ),
        Ok(model) => {
            assert!(model.log_likelihood.is_finite());
            assert!(!model.converged, "{model:?}");
        }
    }
}

#[test]
fn churn_holdout_rejects_reversed_windows() {
    let err = holdout_check(
        ModelKind::BgNbd,
        cdnow_transactions(),
        Period::Week,
        ts(HOLDOUT_END),
        ts(CALIBRATION_END),
    )
    .unwrap_err();
    assert!(matches!(err, ChurnError::InvalidArgument(_)));
}

#[test]
fn churn_simulated_data_recovers_parameters() {
    let truth = ModelParams::BgNbd(BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    });
    let data = simulate(ModelKind::BgNbd, &truth, 50_000, 39.0, 7).unwrap();
    assert_eq!(
        data,
        simulate(ModelKind::BgNbd, &truth, 50_000, 39.0, 7).unwrap()
    );
    let fit = FittedModel::fit(ModelKind::BgNbd, &data, Period::Week).unwrap();
    let ModelParams::BgNbd(p) = fit.params else {
        panic!("{:?}", fit.params)
    };
    assert!(fit.converged);
    assert_rel(p.r, 0.243, 0.1, "r");
    assert_rel(p.alpha, 4.414, 0.15, "alpha");
    assert_rel(p.a, 0.793, 0.2, "a");
    assert_rel(p.b, 2.426, 0.3, "b");

    let truth = ModelParams::ParetoNbd(ParetoNbdParams {
        r: 0.553,
        alpha: 10.58,
        s: 0.606,
        beta: 11.67,
    });
    let data = simulate(ModelKind::ParetoNbd, &truth, 50_000, 39.0, 7).unwrap();
    let fit = FittedModel::fit(ModelKind::ParetoNbd, &data, Period::Week).unwrap();
    let ModelParams::ParetoNbd(p) = fit.params else {
        panic!("{:?}", fit.params)
    };
    assert!(fit.converged);
    assert_rel(p.r, 0.553, 0.1, "r");
    assert_rel(p.alpha, 10.58, 0.15, "alpha");
    assert_eq!(
        simulate(ModelKind::BgNbd, &truth, 10, 39.0, 1).unwrap_err(),
        ChurnError::KindMismatch {
            kind: ModelKind::BgNbd
        }
    );
}
