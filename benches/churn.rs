//! Fit times of the churn models: CDNOW (2 357 customers) and synthetic customers simulated from
//! the CDNOW parameters (1 000 000 by default).
//!
//!     cargo bench --bench churn                 # 5 runs each, 1 000 000 synthetic customers
//!     cargo bench --bench churn -- --quick      # 3 runs each, 100 000 synthetic customers
//!     cargo bench --bench churn -- --customers 200000 --runs 7 --out target/churn-bench
//!
//! The synthetic data is written to `<out>/synthetic_{bgnbd,pareto}.csv` (frequency, recency, T in
//! weeks) and the results to `<out>/rust_results.json`, so `scripts/churn/lifetimes_bench.py` can
//! fit exactly the same data with Python lifetimes; with `SEEN_BENCH_LIFETIMES_PYTHON=/path/to/python`
//! (one that has `lifetimes`) the bench runs it itself, in the same run. Synthetic times are rounded down to whole
//! days, as real transaction data is.
//!
//! With the CDNOW master (`../shared/data/cdnow/CDNOW_master.txt`, or `SEEN_BENCH_CDNOW_MASTER`), two more
//! measurements: the fit alone on all 23 570 buyers as of 1998-07-01 (and lifetimes on the same data, in the same
//! run, when `SEEN_BENCH_LIFETIMES_PYTHON` is set), and the whole command, process start to exit: the master
//! imported once into a fresh SQLite file, then `seen churn fit --as-of 1998-07-01T00:00:00Z` for BG/NBD and
//! Pareto/NBD, `--runs` times each (at least 10). With `SEEN_BENCH_BASELINE=/path/to/old/seen` the old binary
//! runs alternately with this one on the same file, and the ratio of the medians is printed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use seen::churn::{
    rfm_summary, simulate, BgNbdParams, CustomerRfm, FittedModel, GammaGamma, ModelKind,
    ModelParams, ParetoNbdParams, Period, Rfm, RfmOptions, Transaction,
};

struct Args {
    runs: usize,
    customers: usize,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        runs: 5,
        customers: 1_000_000,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/churn-bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {
                a.runs = 3;
                a.customers = 100_000;
            }
            "--runs" => a.runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.runs),
            "--customers" => {
                a.customers = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(a.customers)
            }
            "--out" => a.out = it.next().map(PathBuf::from).unwrap_or(a.out),
            _ => {} // `cargo bench` passes --bench
        }
    }
    a
}

fn cdnow() -> Vec<CustomerRfm> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/churn/CDNOW_sample.txt");
    let text = std::fs::read_to_string(&path).expect("CDNOW fixture");
    let transactions: Vec<Transaction> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let c: Vec<&str> = line.split_whitespace().collect();
            let d = c[2];
            Transaction {
                customer: c[1].trim_start_matches('0').to_string(),
                at: format!("{}-{}-{}T00:00:00Z", &d[0..4], &d[4..6], &d[6..8])
                    .parse()
                    .expect("date"),
                value: c[4].parse().expect("value"),
            }
        })
        .collect();
    rfm_summary(
        &transactions,
        &RfmOptions {
            period: Period::Week,
            calibration_end: "1997-10-01T00:00:00Z".parse().expect("timestamp"),
        },
    )
    .expect("summary")
}

/// The CDNOW master file, when it is there.
fn master_path() -> Option<PathBuf> {
    let path = std::env::var_os("SEEN_BENCH_CDNOW_MASTER").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cdnow/CDNOW_master.txt"),
        PathBuf::from,
    );
    path.exists().then_some(path)
}

/// The whole master as `seen churn fit --as-of 1998-07-01T00:00:00Z` sees it (purchases at noon UTC, as
/// `seen import --format cdnow` stores them; T to the last day before 1998-07-01).
fn cdnow_master(path: &std::path::Path) -> Vec<Rfm> {
    let text = std::fs::read_to_string(path).expect("CDNOW master");
    let transactions: Vec<Transaction> = text
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<&str>>())
        // The header line and blank lines are not purchases.
        .filter(|c| c.len() == 4 && c[1].len() == 8 && c[1].bytes().all(|b| b.is_ascii_digit()))
        .map(|c| {
            let d = c[1];
            Transaction {
                customer: c[0].to_string(),
                at: format!("{}-{}-{}T12:00:00Z", &d[0..4], &d[4..6], &d[6..8])
                    .parse()
                    .expect("date"),
                value: c[3].parse().expect("value"),
            }
        })
        .collect();
    rfm_summary(
        &transactions,
        &RfmOptions {
            period: Period::Week,
            calibration_end: AS_OF.parse().expect("timestamp"),
        },
    )
    .expect("summary")
    .into_iter()
    .map(|c| c.rfm)
    .collect()
}

const AS_OF: &str = "1998-07-01T00:00:00Z";

/// Wall time of one process, in ms; panics if it fails (a bench, not a test).
fn run_ms(program: &std::path::Path, args: &[&str]) -> f64 {
    let start = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run seen");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

fn spread(times: &[f64]) -> String {
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.1} ms ({min:.1}–{max:.1})", median(times))
}

/// `seen churn fit` from process start to exit on the imported master, this binary and (if given) the
/// baseline alternately on the same file.
fn whole_command(master: &std::path::Path, out: &std::path::Path, runs: usize) {
    let seen = PathBuf::from(env!("CARGO_BIN_EXE_seen"));
    let baseline = std::env::var_os("SEEN_BENCH_BASELINE").map(PathBuf::from);
    let db = out.join("cdnow-master.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let db_arg = db.to_str().expect("UTF-8 path");
    let master_arg = master.to_str().expect("UTF-8 path");
    let import_ms = run_ms(
        &seen,
        &[
            "--db", db_arg, "import", "-q", "--format", "cdnow", master_arg,
        ],
    );
    println!(
        "\n== `seen churn fit`, whole command (CDNOW master imported into a fresh SQLite file in {import_ms:.0} ms; \
         as of {AS_OF}; {runs} runs each{})",
        if baseline.is_some() { ", alternating with the baseline" } else { "" }
    );
    if baseline.is_none() {
        println!("(set SEEN_BENCH_BASELINE=/path/to/old/seen to time an older binary alternately)");
    }
    println!("\n| model | this binary: median (min–max) | baseline: median (min–max) | baseline / this |");
    println!("|---|---:|---:|---:|");
    for model in ["bgnbd", "pareto"] {
        let args = [
            "--db", db_arg, "churn", "fit", "--model", model, "--as-of", AS_OF,
        ];
        // One warm-up each (the first fit records the gone-quiet events; later ones find them recorded).
        run_ms(&seen, &args);
        if let Some(old) = &baseline {
            run_ms(old, &args);
        }
        let (mut new_ms, mut old_ms) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            new_ms.push(run_ms(&seen, &args));
            if let Some(old) = &baseline {
                old_ms.push(run_ms(old, &args));
            }
        }
        let (old_text, ratio) = if old_ms.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            (
                spread(&old_ms),
                format!("{:.2}×", median(&old_ms) / median(&new_ms)),
            )
        };
        println!("| {model} | {} | {old_text} | {ratio} |", spread(&new_ms));
    }
}

/// Our fit time over lifetimes' on the same data, from the script's results.
fn compare_with_lifetimes(out: &std::path::Path, rows: &[Row]) {
    let Ok(text) = std::fs::read_to_string(out.join("lifetimes_results.json")) else {
        return;
    };
    let Ok(theirs) = serde_json::from_str::<Vec<serde_json::Value>>(&text) else {
        return;
    };
    println!(
        "\n| data | model | seen median ms | lifetimes (plain) median ms | lifetimes / seen |"
    );
    println!("|---|---|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.dataset.starts_with("CDNOW")) {
        let Some(lifetimes_ms) = theirs
            .iter()
            .find(|t| {
                t["dataset"] == r.dataset.as_str()
                    && t["model"] == r.model
                    && t["variant"] == "plain"
            })
            .and_then(|t| t["median_ms"].as_f64())
        else {
            continue;
        };
        let ours = median(&r.times_ms);
        println!(
            "| {} | {} | {ours:.2} | {lifetimes_ms:.1} | {:.0}× |",
            r.dataset,
            r.model,
            lifetimes_ms / ours
        );
    }
}

struct Row {
    dataset: String,
    model: &'static str,
    customers: usize,
    times_ms: Vec<f64>,
    params: String,
    log_likelihood: f64,
    iterations: u64,
    converged: bool,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn time_fit(dataset: &str, kind: ModelKind, data: &[Rfm], runs: usize) -> Row {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let fit = FittedModel::fit(kind, data, Period::Week).expect("fit");
        times.push(start.elapsed().as_secs_f64() * 1e3);
        last = Some(fit);
    }
    let fit = last.expect("runs >= 1");
    Row {
        dataset: dataset.into(),
        model: match kind {
            ModelKind::BgNbd => "BG/NBD",
            ModelKind::ParetoNbd => "Pareto/NBD",
        },
        customers: data.len(),
        times_ms: times,
        params: params_text(&fit.params),
        log_likelihood: fit.log_likelihood,
        iterations: fit.iterations,
        converged: fit.converged,
    }
}

fn params_text(p: &ModelParams) -> String {
    match p {
        ModelParams::BgNbd(p) => format!(
            "r={:.4} alpha={:.4} a={:.4} b={:.4}",
            p.r, p.alpha, p.a, p.b
        ),
        ModelParams::ParetoNbd(p) => format!(
            "r={:.4} alpha={:.4} s={:.4} beta={:.4}",
            p.r, p.alpha, p.s, p.beta
        ),
    }
}

/// Rounds simulated times down to whole days (in weeks), as transaction data would give.
fn on_day_grid(data: Vec<Rfm>) -> Vec<Rfm> {
    data.into_iter()
        .map(|d| Rfm {
            frequency: d.frequency,
            recency: (d.recency * 7.0).floor() / 7.0,
            t: (d.t * 7.0).floor() / 7.0,
        })
        .collect()
}

fn write_csv(path: &PathBuf, data: &[Rfm]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "frequency,recency,T")?;
    for d in data {
        // {:?} prints the shortest string that parses back to the same f64.
        writeln!(w, "{:?},{:?},{:?}", d.frequency, d.recency, d.t)?;
    }
    w.flush()
}

fn main() {
    let args = args();
    std::fs::create_dir_all(&args.out).expect("output folder");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "churn fit benchmark: {} runs each, {} synthetic customers, {} threads",
        args.runs, args.customers, threads
    );

    let mut rows = Vec::new();
    let summary = cdnow();
    let rfm: Vec<Rfm> = summary.iter().map(|c| c.rfm).collect();
    rows.push(time_fit("CDNOW", ModelKind::BgNbd, &rfm, args.runs));
    rows.push(time_fit("CDNOW", ModelKind::ParetoNbd, &rfm, args.runs));
    let mut times = Vec::new();
    let mut gg = None;
    for _ in 0..args.runs {
        let start = Instant::now();
        gg = Some(GammaGamma::fit(&summary).expect("gamma-gamma"));
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let gg = gg.expect("runs >= 1");
    rows.push(Row {
        dataset: "CDNOW".into(),
        model: "Gamma-Gamma",
        customers: gg.customers,
        times_ms: times,
        params: format!("p={:.4} q={:.4} v={:.4}", gg.p, gg.q, gg.v),
        log_likelihood: gg.log_likelihood,
        iterations: 0,
        converged: true,
    });

    let master = master_path();
    match &master {
        Some(path) => {
            let data = cdnow_master(path);
            rows.push(time_fit("CDNOW_master", ModelKind::BgNbd, &data, args.runs));
            rows.push(time_fit(
                "CDNOW_master",
                ModelKind::ParetoNbd,
                &data,
                args.runs,
            ));
        }
        None => println!(
            "no CDNOW master (../shared/data/cdnow/CDNOW_master.txt or SEEN_BENCH_CDNOW_MASTER): \
             its fit and the whole command are skipped"
        ),
    }

    let bg = ModelParams::BgNbd(BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    });
    let pareto = ModelParams::ParetoNbd(ParetoNbdParams {
        r: 0.553,
        alpha: 10.58,
        s: 0.606,
        beta: 11.67,
    });
    for (name, kind, params, seed) in [
        ("bgnbd", ModelKind::BgNbd, bg, 1),
        ("pareto", ModelKind::ParetoNbd, pareto, 2),
    ] {
        let data =
            on_day_grid(simulate(kind, &params, args.customers, 39.0, seed).expect("simulate"));
        let path = args.out.join(format!("synthetic_{name}.csv"));
        write_csv(&path, &data).expect("write csv");
        rows.push(time_fit(
            &format!("synthetic_{name}"),
            kind,
            &data,
            args.runs,
        ));
    }

    println!(
        "\n| data | model | customers | median ms | min ms | iterations | converged | log-likelihood | parameters |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} | {:.2} | {} |",
            r.dataset,
            r.model,
            r.customers,
            median(&r.times_ms),
            r.times_ms.iter().copied().fold(f64::INFINITY, f64::min),
            r.iterations,
            r.converged,
            r.log_likelihood,
            r.params
        );
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "dataset": r.dataset, "model": r.model, "customers": r.customers,
                "median_ms": median(&r.times_ms), "times_ms": r.times_ms, "params": r.params,
                "log_likelihood": r.log_likelihood, "iterations": r.iterations,
                "converged": r.converged, "threads": threads,
            })
        })
        .collect();
    let path = args.out.join("rust_results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
    println!("\nwrote {} and the synthetic CSVs", path.display());

    // The side-by-side in the same run: with `SEEN_BENCH_LIFETIMES_PYTHON` pointing at a Python that has
    // `lifetimes` (e.g. a venv: `python3 -m venv /tmp/lt-venv && /tmp/lt-venv/bin/pip install lifetimes`),
    // the script fits the data just written and prints its table after ours.
    match std::env::var("SEEN_BENCH_LIFETIMES_PYTHON") {
        Ok(python) => {
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/churn/lifetimes_bench.py");
            println!("\n== Python lifetimes on the same data ({python})");
            let mut command = std::process::Command::new(&python);
            command
                .arg(&script)
                .arg("--runs")
                .arg(args.runs.to_string())
                .arg("--out")
                .arg(&args.out);
            if let Some(path) = &master {
                command.arg("--master").arg(path);
            }
            match command.status() {
                Ok(s) if s.success() => compare_with_lifetimes(&args.out, &rows),
                Ok(s) => eprintln!("the lifetimes script failed: {s}"),
                Err(e) => eprintln!("cannot run {python}: {e}"),
            }
        }
        Err(_) => println!(
            "\nlifetimes side skipped: set SEEN_BENCH_LIFETIMES_PYTHON to a Python with lifetimes 0.11.3 \
             (python3 -m venv /tmp/lt-venv && /tmp/lt-venv/bin/pip install lifetimes==0.11.3)"
        ),
    }

    if let Some(path) = &master {
        whole_command(path, &args.out, args.runs.max(10));
    }
}
