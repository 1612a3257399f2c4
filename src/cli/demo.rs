use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::{Timestamp, Unit};

use super::Cli;
use crate::demo::DemoOptions;
use crate::domain::Event;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Random seed: the same seed, size and end give the same business.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 2_000)]
    customers: usize,
    /// Months of history before the end.
    #[arg(long, default_value_t = crate::demo::DEFAULT_MONTHS, value_parser = clap::value_parser!(u32).range(1..=120))]
    months: u32,
    /// The demo's "now": six months of history end here (default: the start of the current hour).
    #[arg(long, value_parser = super::parse_as_of)]
    end: Option<Timestamp>,
    /// Only write the events as JSON lines to stdout (a load generator); no database.
    #[arg(long)]
    events_only: bool,
    /// Then serve the dashboard on the demo business (with a login for each role printed); actions stay
    /// off, so no email leaves and the demo's invisible customers stay invisible.
    #[arg(long, conflicts_with = "events_only")]
    serve: bool,
    /// Where `--serve` listens (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    listen: std::net::SocketAddr,
    /// With --serve: keep the front desk still (by default visitors keep checking in and staff call, serve
    /// and finish them, so the board is live).
    #[arg(long, requires = "serve")]
    no_live_desk: bool,
}

pub async fn run(cli: &Cli, args: &DemoArgs) -> Result<ExitCode> {
    let end = match args.end {
        Some(end) => end,
        None => Timestamp::now()
            .round(Unit::Hour)
            .context("rounding the current time")?,
    };
    let options = DemoOptions {
        months: args.months,
        ..DemoOptions::new(args.seed, args.customers, end)
    };
    if args.events_only {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        match crate::demo::write_jsonl(&options, &mut out).and_then(|_| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(e).context("writing events")
            }
            _ => return Ok(ExitCode::SUCCESS),
        }
    }
    let db = cli.db_or("./seen-demo.db");
    // A SQLite demo file is replaced; a PostgreSQL database is added to (the events' ids make it idempotent).
    let sqlite_files: &[&str] = if db.contains("://") && !db.starts_with("sqlite://") {
        &[]
    } else {
        &["", "-wal", "-shm"]
    };
    let db_path = db.strip_prefix("sqlite://").unwrap_or(&db).to_string();
    for suffix in sqlite_files {
        let path = format!("{db_path}{suffix}");
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("replacing {path}"));
            }
            _ => {}
        }
    }
    let mut config = super::load_config(cli)?;
    if args.serve {
        config.file.actions.enabled = false;
    }
    let store = super::open_store(&db, &config).await?;
    let service = crate::service::Service::for_config(store.clone(), &config);
    eprintln!(
        "Building a demo business: {} customers, {} months up to {} (seed {}) …",
        args.customers,
        args.months,
        super::output::when(end),
        args.seed
    );
    // The generator hands over blocks of customers; they go through the same validation as any input.
    let mailbox_options = options.clone();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<Event>>(2);
    let generator = std::thread::spawn(move || {
        crate::demo::generate(&options, |block| sender.blocking_send(block))
    });
    let mut total = 0usize;
    while let Some(block) = receiver.recv().await {
        let mut events = Vec::with_capacity(block.len());
        for demo_event in &block {
            let event = crate::demo::validate(demo_event, end)
                .with_context(|| format!("demo event {} is invalid", demo_event.id))?;
            events.push(event);
        }
        total += events.len();
        service
            .ingest(events)
            .await
            .context("storing demo events")?;
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the demo generator panicked"))?
        .map_err(|_| anyhow::anyhow!("the demo generator stopped early"))?;
    let mailbox = read_mailbox(&service, &mailbox_options).await?;
    let invisible = service
        .invisible(end)
        .await
        .context("computing the report")?;
    let summary = service
        .summary(end)
        .await
        .context("computing the summary")?;
    eprintln!(
        "Stored {total} events in {}.\n",
        crate::store::redact_url(&db)
    );
    println!("Promises kept (as of the demo's end):");
    for p in &summary.policies {
        println!(
            "  {:<18} {:>6} kept {:>5} late {:>5} missed {:>5} open   kept-rate {}",
            p.policy,
            p.kept,
            p.kept_late,
            p.breached,
            p.open,
            p.kept_rate
                .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
        );
    }
    println!();
    print_mailbox(&mailbox);
    super::report::print_table(&invisible, end, summary.customers, 15);
    if args.serve {
        let logins = demo_logins(&service).await?;
        // What one invisible customer sees: their own page, as the link in every message opens it.
        let status = match invisible.first() {
            Some(first) => {
                let customer = first.invisible.customer.clone();
                let token = service
                    .mint_status_token(&customer, config.customer_page.expires, Timestamp::now())
                    .await
                    .context("signing a demo customer's status link")?;
                Some((customer, token))
            }
            None => None,
        };
        let live_desk = !args.no_live_desk;
        return super::serve::serve(&config, store, args.listen, move |address, service| {
            if live_desk {
                tokio::spawn(crate::demo::live_desk::run(service.clone()));
                println!("\nThe front desk is live: http://{address}/board (--no-live-desk keeps it still)");
            }
            println!("\nDashboard: http://{address}/login  (Ctrl-C stops it)");
            for (role, email, password) in &logins {
                println!("  {role:<8} {email:<22} password {password}");
            }
            if let Some((customer, token)) = &status {
                println!("Customer {customer}'s own page (the link in every message): http://{address}/c/{token}");
            }
        })
        .await;
    }
    if let Some(first) = invisible.first() {
        println!(
            "\nNext: seen --db {db} explain {} --as-of {end}\n      seen --db {db} serve   (HTTP API on 127.0.0.1:8080)",
            first.invisible.customer
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's shared inbox, read the way `[[connectors.imap]] name = "hello"` reads a real one (the same
/// classification, threading and events; as a backfill, so no action is planned for it).
async fn read_mailbox(
    service: &crate::service::Service,
    options: &DemoOptions,
) -> Result<crate::connectors::imap::Pass> {
    let mails = crate::demo::mailbox(options)
        .into_iter()
        .map(crate::demo::DemoMail::into_read)
        .collect();
    let mut threader = crate::connectors::imap::Threader::new(
        "hello",
        service.clone(),
        crate::connectors::Health::default(),
        crate::jobs::Wake::default(),
    );
    threader
        .store_raw(mails, &crate::demo::mailbox::our_addresses(), true)
        .await
        .context("reading the demo mailbox")
}

fn print_mailbox(pass: &crate::connectors::imap::Pass) {
    if pass.mails == 0 {
        return;
    }
    let t = &pass.threaded;
    println!(
        "The mailbox {} ({} mails in INBOX and Sent, read as the IMAP connector reads them):",
        crate::demo::mailbox::OUR_ADDRESS,
        pass.mails
    );
    println!(
        "  threading: {} mails started a conversation; the others found theirs by References {}, by In-Reply-To alone (Outlook sends no References) {}, by Seen's reply token {}, by the subject alone {}",
        t.new, t.references, t.in_reply_to, t.reply_token, t.subject
    );
    println!(
        "  not customers' conversations: {} (out-of-office replies, newsletters, colleagues' mail); {} bounced confirmations (addresses suppressed); {} unreadable\n",
        pass.ignored,
        pass.bounces,
        pass.skipped
    );
}

/// One user per role with a fresh random password (the demo database is new each time).
async fn demo_logins(service: &crate::service::Service) -> Result<Vec<(String, String, String)>> {
    use crate::store::Role;
    let mut out = Vec::new();
    for (role, email, name) in [
        (Role::Admin, "admin@demo.example", "Demo Admin"),
        (Role::Manager, "manager@demo.example", "Marta Manager"),
        (Role::Agent, "agent@demo.example", "Alex Agent"),
    ] {
        let password = crate::secrets::random_token()[..20].to_string();
        let hash = crate::secrets::hash_password(&password).context("hashing a demo password")?;
        match service.create_user(email, name, role, &hash).await {
            Ok(_) => out.push((role.as_str().to_string(), email.to_string(), password)),
            // A PostgreSQL demo database is added to: its users stay as they were.
            Err(crate::store::StoreError::Conflict(_)) => out.push((
                role.as_str().to_string(),
                email.to_string(),
                "(unchanged: user existed)".into(),
            )),
            Err(err) => return Err(err).context("creating a demo user"),
        }
    }
    Ok(out)
}
