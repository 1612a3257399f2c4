//! The mailbox connector (`[[connectors.imap]]`): reads a business's mailbox over IMAP and turns each
//! customer's mail into `message.received`, each of ours into `message.sent`, each bounce into
//! `message.bounced` (and a suppression), threaded into `ref` (see `thread`).
//!
//! Per folder it keeps UIDVALIDITY and the last UID whose mail is stored (`store::Mailboxes`). The cursor
//! moves only after the events of the mails up to it are committed, and event ids derive from the
//! Message-ID, so a kill at any point re-reads at most one chunk and stores nothing twice. On the first
//! connect (or a UIDVALIDITY change) it reads `backfill` of history; those events carry
//! `properties.backfill = true`, and the planner queues no action for obligations they open. Then it
//! IDLEs on the first inbox folder (or polls every `poll` where IDLE is missing) and syncs every folder
//! when told of new mail. With several nodes on one PostgreSQL, a lease in the database makes one node
//! read each mailbox.

pub mod mail;
pub mod session;
pub mod thread;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tokio::sync::Notify;

use self::mail::{Kind, Mail, OurAddresses, Person, Role};
use self::session::{Endpoint, Stream, Tls};
use self::thread::Rule;
use super::Health;
use crate::config::connectors::ImapConfig;
use crate::domain::event::MAX_ID;
use crate::domain::{Event, EventInput};
use crate::jobs::Wake;
use crate::service::Service;
use crate::store::{Ingested, MailCursor, MailThread, Suppression};

/// The prefix of every event id this connector mints (the planner recognises backfilled triggers by it).
pub const ID_PREFIX: &str = "imap:";

/// Mails fetched and stored per round trip.
const CHUNK: usize = 100;
/// Mails larger than this are read by their headers only.
const MAX_BODY: u32 = 10 * 1024 * 1024;

/// One configured mailbox, checked and ready to read.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub name: String,
    endpoint: Endpoint,
    folders: Vec<(String, Role)>,
    ours: OurAddresses,
    backfill: SignedDuration,
    poll: Duration,
}

impl Mailbox {
    /// Checks a `[[connectors.imap]]` entry and reads its password from the environment.
    pub fn from_config(c: &ImapConfig) -> Result<Mailbox, String> {
        let here = format!("[[connectors.imap]] {:?}", c.name);
        let tls = Tls::parse(&c.tls).ok_or_else(|| {
            format!(
                "{here}: tls {:?}: expected \"implicit\", \"starttls\" or \"none\"",
                c.tls
            )
        })?;
        if tls == Tls::None && !is_loopback(&c.host) {
            return Err(format!(
                "{here}: tls = \"none\" sends the password in clear; it is allowed only to 127.0.0.1, ::1 or localhost, not {:?}",
                c.host
            ));
        }
        let password = std::env::var(&c.password_env).map_err(|_| {
            format!(
                "{here}: the environment variable {} (password_env) is not set",
                c.password_env
            )
        })?;
        let ours = OurAddresses::parse(&c.our_addresses).map_err(|e| format!("{here}: {e}"))?;
        let backfill = crate::domain::span::parse_span(&c.backfill)
            .map_err(|e| format!("{here}: backfill: {e}"))?;
        let poll =
            crate::domain::span::parse_span(&c.poll).map_err(|e| format!("{here}: poll: {e}"))?;
        if poll < SignedDuration::from_secs(1) {
            return Err(format!("{here}: poll: at least 1s"));
        }
        // Sent folders first: a customer's reply that names only its parent (In-Reply-To) then finds our
        // mail already threaded, and our replies name their root, so the order inside a pass matters less.
        let mut folders: Vec<(String, Role)> = Vec::new();
        for (list, role) in [
            (&c.folders.sent, Role::Sent),
            (&c.folders.inbox, Role::Inbox),
        ] {
            for folder in list {
                if folders.iter().any(|(f, _)| f == folder) {
                    return Err(format!("{here}: folder {folder:?} is listed twice"));
                }
                folders.push((folder.clone(), role));
            }
        }
        if !folders.iter().any(|(_, role)| *role == Role::Inbox) {
            return Err(format!("{here}: folders.inbox: at least one folder"));
        }
        Ok(Mailbox {
            name: c.name.clone(),
            endpoint: Endpoint {
                host: c.host.clone(),
                port: c.port,
                tls,
                username: c.username.clone(),
                password,
                tls_config: session::tls_config(c.ca_file.as_deref())
                    .map_err(|e| format!("{here}: {e}"))?,
            },
            folders,
            ours,
            backfill,
            poll: poll.unsigned_abs(),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What one pass over a folder did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub mails: u64,
    pub stored: u64,
    pub ignored: u64,
    pub skipped: u64,
    /// Delivery failure reports read (each suppresses its addresses).
    pub bounces: u64,
    /// Which rule threaded each customer's or our mail.
    pub threaded: Threaded,
}

/// How many mails each threading rule placed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Threaded {
    pub references: u64,
    pub in_reply_to: u64,
    pub reply_token: u64,
    pub subject: u64,
    /// Mails that started a thread (their own, or one rooted at a parent Seen never saw).
    pub new: u64,
}

impl Threaded {
    fn count(&mut self, rule: Rule) {
        let n = match rule {
            Rule::References => &mut self.references,
            Rule::InReplyTo => &mut self.in_reply_to,
            Rule::ReplyToken => &mut self.reply_token,
            Rule::Subject => &mut self.subject,
            Rule::New => &mut self.new,
        };
        *n += 1;
    }
}

impl Pass {
    fn add(&mut self, other: &Pass) {
        self.mails += other.mails;
        self.stored += other.stored;
        self.ignored += other.ignored;
        self.skipped += other.skipped;
        self.bounces += other.bounces;
        let (a, b) = (&mut self.threaded, &other.threaded);
        a.references += b.references;
        a.in_reply_to += b.in_reply_to;
        a.reply_token += b.reply_token;
        a.subject += b.subject;
        a.new += b.new;
    }
}

/// Reads one mailbox for as long as the app runs.
pub struct Reader {
    mailbox: Mailbox,
    service: Service,
    health: Health,
    /// This process, as a lease holder.
    node: String,
    threader: Threader,
}

/// Threads read mails and stores their events: what a folder pass does once the mails are parsed (the
/// demo's mailbox goes through it too).
pub struct Threader {
    name: String,
    service: Service,
    health: Health,
    wake: Wake,
    /// Threads decided in this run, before and after they reach the store (mails of one chunk refer to
    /// each other). Cleared when large.
    threads: HashMap<String, String>,
}

const KIND: &str = "imap";

impl Reader {
    pub fn new(mailbox: Mailbox, service: Service, health: Health, wake: Wake) -> Reader {
        let threader = Threader::new(&mailbox.name, service.clone(), health.clone(), wake);
        Reader {
            mailbox,
            service,
            health,
            node: uuid::Uuid::now_v7().to_string(),
            threader,
        }
    }

    /// Connects, syncs, waits for mail, and on any failure retries with backoff (1 s doubling to 60 s)
    /// until `stop`.
    pub async fn run(mut self, stop: Arc<Notify>) {
        let name = self.mailbox.name.clone();
        let mut backoff = Duration::from_secs(1);
        loop {
            let attempt = std::time::Instant::now();
            match self.lease().await {
                Ok(true) => match self.connected(&stop).await {
                    Ok(()) => {
                        self.release().await;
                        return;
                    }
                    Err(err) => {
                        // A connection that worked for a while starts the backoff again.
                        if attempt.elapsed() > Duration::from_secs(60) {
                            backoff = Duration::from_secs(1);
                        }
                        tracing::warn!(connector = %name, error = %err, "mailbox: retrying in {backoff:?}");
                        self.health.failed(&name, KIND, &err.to_string());
                    }
                },
                Ok(false) => {
                    // Another node reads this mailbox: ask again every poll interval.
                    self.health.set_state(&name, KIND, "standby");
                    tokio::select! {
                        _ = tokio::time::sleep(self.mailbox.poll.min(Duration::from_secs(30))) => {}
                        _ = stop.notified() => return,
                    }
                    backoff = Duration::from_secs(1);
                    continue;
                }
                Err(err) => {
                    self.health.failed(&name, KIND, &err.to_string());
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.notified() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    /// Takes or renews the lease for three poll intervals (at least 10 s): renewed before every wait and
    /// every chunk, so a node that dies hands its mailboxes to another within that time.
    async fn lease(&self) -> Result<bool, crate::store::StoreError> {
        let now = Timestamp::now();
        let ttl = SignedDuration::try_from(self.mailbox.poll * 3)
            .unwrap_or(SignedDuration::from_secs(180))
            .max(SignedDuration::from_secs(10));
        self.lease_until(now, now.checked_add(ttl).unwrap_or(now))
            .await
    }

    /// Gives the lease up (a graceful stop): another node may take the mailbox at once.
    async fn release(&self) {
        let now = Timestamp::now();
        if let Err(err) = self.lease_until(now, now).await {
            tracing::debug!(connector = %self.mailbox.name, error = %err, "mailbox: lease not released");
        }
    }

    async fn lease_until(
        &self,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, crate::store::StoreError> {
        self.service
            .lease_connector(&self.mailbox.name, &self.node, now, until)
            .await
    }

    /// One connection: sync every folder, then wait on IDLE (or sleep) and sync again, until `stop`
    /// (Ok) or an error.
    async fn connected(&mut self, stop: &Arc<Notify>) -> anyhow::Result<()> {
        let name = self.mailbox.name.clone();
        let mut session = session::open(&self.mailbox.endpoint).await?;
        let idle = session
            .capabilities()
            .await
            .map(|caps| caps.has_str("IDLE"))
            .unwrap_or(false);
        self.health.set_state(&name, KIND, "connected");
        tracing::info!(connector = %name, idle, "mailbox connected");
        loop {
            if !self.lease().await? {
                let _ = session.logout().await;
                anyhow::bail!("another node holds the lease on this mailbox");
            }
            for (folder, role) in self.mailbox.folders.clone() {
                let pass = self.sync_folder(&mut session, &folder, role, stop).await?;
                if pass.mails > 0 {
                    tracing::info!(connector = %name, folder = %folder, mails = pass.mails, stored = pass.stored,
                        ignored = pass.ignored, skipped = pass.skipped, "mailbox synced");
                }
            }
            self.health.set_state(&name, KIND, "connected");
            let (next, stopped) = if idle {
                self.idle(session, stop).await?
            } else {
                let stopped = tokio::select! {
                    _ = tokio::time::sleep(self.mailbox.poll) => false,
                    _ = stop.notified() => true,
                };
                (session, stopped)
            };
            session = next;
            if stopped {
                let _ = session.logout().await;
                return Ok(());
            }
        }
    }

    /// IDLE on the first inbox folder until the server says something, `poll` passes, or `stop`.
    async fn idle(
        &self,
        mut session: Session<Stream>,
        stop: &Arc<Notify>,
    ) -> anyhow::Result<(Session<Stream>, bool)> {
        let inbox = self
            .mailbox
            .folders
            .iter()
            .find(|(_, role)| *role == Role::Inbox)
            .map(|(f, _)| f.clone())
            .unwrap_or_else(|| "INBOX".to_string());
        session.select(&inbox).await?;
        let mut handle = session.idle();
        handle.init().await?;
        let stopped = {
            let (wait, interrupt) = handle.wait_with_timeout(self.mailbox.poll);
            let stopped = tokio::select! {
                response = wait => {
                    if let IdleResponse::NewData(_) = response? {
                        tracing::debug!(connector = %self.mailbox.name, "mailbox: new data");
                    }
                    false
                }
                _ = stop.notified() => true,
            };
            drop(interrupt);
            stopped
        };
        let session = handle.done().await?;
        Ok((session, stopped))
    }

    /// Reads the folder's new mail (or its backfill) in chunks: parse, thread, store, then move the
    /// cursor.
    async fn sync_folder(
        &mut self,
        session: &mut Session<Stream>,
        folder: &str,
        role: Role,
        stop: &Notify,
    ) -> anyhow::Result<Pass> {
        let name = self.mailbox.name.clone();
        let selected = session.select(folder).await?;
        let validity = selected.uid_validity.unwrap_or(0);
        let cursor = self.service.mail_cursor(&name, folder).await?;
        let (uids, backfill) = match cursor {
            Some(c) if c.validity == validity => {
                if selected.uid_next.is_some_and(|next| next <= c.last_uid + 1) {
                    return Ok(Pass::default());
                }
                let found = session
                    .uid_search(format!("UID {}:*", c.last_uid + 1))
                    .await?;
                let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > c.last_uid).collect();
                uids.sort_unstable();
                (uids, false)
            }
            previous => {
                if let Some(previous) = previous {
                    tracing::warn!(connector = %name, folder, old = previous.validity, new = validity,
                        "mailbox: UIDVALIDITY changed; reading the folder's backfill again");
                }
                let since = Timestamp::now()
                    .checked_sub(self.mailbox.backfill)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .strftime("%d-%b-%Y")
                    .to_string();
                let mut uids: Vec<u32> = session
                    .uid_search(format!("SINCE {since}"))
                    .await?
                    .into_iter()
                    .collect();
                uids.sort_unstable();
                if uids.is_empty() {
                    self.service
                        .set_mail_cursor(
                            &name,
                            folder,
                            MailCursor {
                                validity,
                                last_uid: selected.uid_next.unwrap_or(1).saturating_sub(1),
                            },
                        )
                        .await?;
                }
                (uids, true)
            }
        };
        let mut pass = Pass::default();
        for chunk in uids.chunks(CHUNK) {
            if stop_requested(stop) {
                break;
            }
            if !self.lease().await? {
                anyhow::bail!("another node took the lease on this mailbox");
            }
            let set = chunk
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let fetched: Vec<async_imap::types::Fetch> = session
                .uid_fetch(&set, "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[])")
                .await?
                .try_collect()
                .await?;
            let mut mails = Vec::with_capacity(fetched.len());
            for fetch in &fetched {
                let Some(uid) = fetch.uid else { continue };
                let received = fetch
                    .internal_date()
                    .and_then(|d| Timestamp::from_second(d.timestamp()).ok());
                let body = match fetch.body() {
                    Some(body) if fetch.size.unwrap_or(0) <= MAX_BODY => body,
                    Some(body) => header_of(body),
                    None => {
                        tracing::warn!(connector = %name, folder, uid, "mailbox: no body returned; skipped");
                        pass.skipped += 1;
                        continue;
                    }
                };
                match mail::read(body, received, role, &self.mailbox.ours) {
                    Ok(mail) => mails.push((uid, mail)),
                    Err(err) => {
                        tracing::warn!(connector = %name, folder, uid, error = %err, "mailbox: mail skipped");
                        pass.skipped += 1;
                    }
                }
            }
            pass.mails += fetched.len() as u64;
            let stored = self.threader.store_mails(folder, mails, backfill).await?;
            pass.add(&Pass { mails: 0, ..stored });
            let last_uid = chunk.iter().copied().max().unwrap_or(0);
            self.service
                .set_mail_cursor(&name, folder, MailCursor { validity, last_uid })
                .await?;
        }
        Ok(pass)
    }
}

impl Threader {
    pub fn new(name: &str, service: Service, health: Health, wake: Wake) -> Threader {
        Threader {
            name: name.to_string(),
            service,
            health,
            wake,
            threads: HashMap::new(),
        }
    }

    /// Reads mails already in hand — `(folder, role, raw message, INTERNALDATE)`, in the order a reader
    /// would see them — and stores them in chunks as a folder pass does: the same classification,
    /// threading and events. The demo's mailbox comes this way.
    pub async fn store_raw(
        &mut self,
        mails: Vec<(String, Role, Vec<u8>, Timestamp)>,
        ours: &OurAddresses,
        backfill: bool,
    ) -> anyhow::Result<Pass> {
        let mut pass = Pass::default();
        let mut mails = mails.into_iter().peekable();
        let mut uid = 0u32;
        while mails.peek().is_some() {
            // One chunk: up to CHUNK mails of one folder.
            let folder = mails.peek().map(|m| m.0.clone()).unwrap_or_default();
            let mut chunk = Vec::new();
            while chunk.len() < CHUNK && mails.peek().is_some_and(|m| m.0 == folder) {
                let Some((_, role, raw, internal)) = mails.next() else {
                    break;
                };
                uid += 1;
                pass.mails += 1;
                match mail::read(&raw, Some(internal), role, ours) {
                    Ok(mail) => chunk.push((uid, mail)),
                    Err(err) => {
                        tracing::warn!(connector = %self.name, folder, uid, error = %err, "mailbox: mail skipped");
                        pass.skipped += 1;
                    }
                }
            }
            let stored = self.store_mails(&folder, chunk, backfill).await?;
            pass.add(&stored);
        }
        Ok(pass)
    }

    /// Threads the mails of one chunk, stores their events (one transaction), then their threads and
    /// any bounced addresses.
    async fn store_mails(
        &mut self,
        folder: &str,
        mails: Vec<(u32, Mail)>,
        backfill: bool,
    ) -> anyhow::Result<Pass> {
        let name = self.name.clone();
        let mut pass = Pass::default();
        // Known threads of everything this chunk refers to (the run's own map first).
        let mut wanted: Vec<String> = Vec::new();
        for (_, mail) in &mails {
            wanted.extend(thread::lookups(mail));
            if let Kind::Bounce {
                original: Some(original),
                ..
            } = &mail.kind
            {
                wanted.push(original.clone());
            }
        }
        wanted.retain(|id| !self.threads.contains_key(id));
        wanted.sort();
        wanted.dedup();
        let known = self.service.mail_threads(wanted).await?;
        self.threads.extend(known);
        let now = Timestamp::now();
        let mut events: Vec<Event> = Vec::new();
        let mut records: Vec<MailThread> = Vec::new();
        let mut bounced: Vec<Suppression> = Vec::new();
        for (uid, mail) in mails {
            let correspondent = match &mail.kind {
                Kind::Received { correspondent } => Some(correspondent.address.clone()),
                Kind::Sent { recipients } => recipients.first().map(|p| p.address.clone()),
                _ => None,
            };
            let (thread, rule) = self.thread_of(&mail, correspondent.as_deref()).await?;
            if correspondent.is_some() && !matches!(mail.kind, Kind::Bounce { .. }) {
                pass.threaded.count(rule);
            }
            let thread = bounded_ref(&thread);
            self.threads.insert(mail.message_id.clone(), thread.clone());
            let record = |correspondent: &str| MailThread {
                message_id: mail.message_id.clone(),
                correspondent: correspondent.to_string(),
                thread: thread.clone(),
                subject_key: mail.subject_key.clone(),
                at: mail.at,
            };
            let base = Base {
                connector: &name,
                folder,
                mail: &mail,
                thread: &thread,
                rule,
                backfill,
            };
            let built: Vec<Result<Event, String>> = match &mail.kind {
                Kind::Received { correspondent } => {
                    records.push(record(&correspondent.address));
                    vec![base.event("message.received", correspondent, None, now)]
                }
                Kind::Sent { recipients } => recipients
                    .iter()
                    .map(|person| {
                        records.push(record(&person.address));
                        base.event("message.sent", person, Some(&person.address), now)
                    })
                    .collect(),
                Kind::Bounce {
                    recipients,
                    status,
                    diagnostic,
                    original,
                } => {
                    pass.bounces += 1;
                    let thread_of_original = original.as_ref().and_then(|id| {
                        self.threads
                            .get(id)
                            .cloned()
                            .or_else(|| thread::reply_token(id))
                    });
                    recipients
                        .iter()
                        .map(|address| {
                            bounced.push(Suppression {
                                target: address.clone(),
                                reason: "bounced".to_string(),
                                detail: status.clone().or_else(|| diagnostic.clone()),
                                at: mail.at,
                            });
                            base.bounce(
                                address,
                                thread_of_original.as_deref(),
                                status,
                                diagnostic,
                                now,
                            )
                        })
                        .collect()
                }
                Kind::Ignored(reason) => {
                    tracing::debug!(connector = %name, folder, uid, reason, "mailbox: not a customer's mail");
                    pass.ignored += 1;
                    Vec::new()
                }
            };
            for event in built {
                match event {
                    Ok(event) => events.push(event),
                    Err(reason) => {
                        tracing::warn!(connector = %name, folder, uid, reason = %reason, "mailbox: mail skipped");
                        pass.skipped += 1;
                    }
                }
            }
        }
        if !events.is_empty() {
            let last = events.iter().map(|e| e.at).max();
            let results = self.service.ingest(events).await?;
            let accepted = results
                .iter()
                .filter(|r| matches!(r, Ingested::Accepted))
                .count() as u64;
            pass.stored += accepted;
            self.health.brought(&name, KIND, accepted, last);
            if accepted > 0 {
                self.wake.ingested();
            }
        }
        self.health.ignored(&name, KIND, pass.ignored);
        self.service.record_mail_threads(records).await?;
        for suppression in bounced {
            self.service.suppress(suppression).await?;
        }
        if self.threads.len() > 50_000 {
            self.threads.clear();
        }
        Ok(pass)
    }

    /// Threads one mail (module `thread`), asking the store for the subject rule when needed.
    async fn thread_of(
        &self,
        mail: &Mail,
        correspondent: Option<&str>,
    ) -> anyhow::Result<(String, Rule)> {
        if let Some(found) = thread::by_headers(mail, &self.threads) {
            return Ok(found);
        }
        if let Some(correspondent) = correspondent.filter(|_| !mail.subject_key.is_empty()) {
            let since = mail
                .at
                .checked_sub(thread::SUBJECT_WINDOW)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            if let Some(thread) = self
                .service
                .recent_mail_thread(correspondent, &mail.subject_key, since)
                .await?
            {
                return Ok((thread, Rule::Subject));
            }
        }
        Ok((thread::new_thread(mail), Rule::New))
    }
}

/// Whether the app asked to stop, leaving the request in place for the next wait to see.
fn stop_requested(stop: &Notify) -> bool {
    use futures::FutureExt;
    if stop.notified().now_or_never().is_some() {
        stop.notify_one();
        return true;
    }
    false
}

/// A `ref` fits an identifier: a thread id longer than `MAX_ID` becomes a digest of itself.
fn bounded_ref(thread: &str) -> String {
    if thread.chars().count() <= MAX_ID && !thread.chars().any(char::is_control) {
        thread.to_string()
    } else {
        format!("mid-{}", &crate::secrets::sha256_hex(thread)[..32])
    }
}

/// The header of a message too large to read whole.
fn header_of(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| &raw[..end + 4])
        .unwrap_or(raw)
}

/// What every event of one mail shares.
struct Base<'a> {
    connector: &'a str,
    folder: &'a str,
    mail: &'a Mail,
    thread: &'a str,
    rule: Rule,
    backfill: bool,
}

impl Base<'_> {
    /// `imap:` + a digest of the Message-ID (+ of the address, for one event per recipient).
    fn id(&self, per: Option<&str>) -> String {
        let digest = &crate::secrets::sha256_hex(&self.mail.message_id)[..32];
        match per {
            Some(address) => format!(
                "{ID_PREFIX}{digest}:{}",
                &crate::secrets::sha256_hex(address)[..12]
            ),
            None => format!("{ID_PREFIX}{digest}"),
        }
    }

    fn properties(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut p = serde_json::Map::new();
        p.insert("connector".into(), json!(self.connector));
        p.insert("folder".into(), json!(self.folder));
        p.insert(
            "subject".into(),
            json!(self.mail.subject.chars().take(200).collect::<String>()),
        );
        p.insert("snippet".into(), json!(self.mail.snippet));
        p.insert(
            "message_id".into(),
            json!(self.mail.message_id.chars().take(200).collect::<String>()),
        );
        p.insert("thread_rule".into(), json!(self.rule.as_str()));
        if self.backfill {
            p.insert("backfill".into(), json!(true));
        }
        p
    }

    fn event(
        &self,
        kind: &str,
        person: &Person,
        per: Option<&str>,
        now: Timestamp,
    ) -> Result<Event, String> {
        self.validate(
            self.id(per),
            kind,
            &person.address,
            person.name.as_deref(),
            Some(self.thread),
            self.properties(),
            now,
        )
    }

    fn bounce(
        &self,
        address: &str,
        thread: Option<&str>,
        status: &Option<String>,
        diagnostic: &Option<String>,
        now: Timestamp,
    ) -> Result<Event, String> {
        let mut p = self.properties();
        p.remove("snippet");
        p.remove("thread_rule");
        if let Some(status) = status {
            p.insert("status".into(), json!(status));
        }
        if let Some(diagnostic) = diagnostic {
            p.insert("diagnostic".into(), json!(diagnostic));
        }
        self.validate(
            self.id(Some(address)),
            "message.bounced",
            address,
            None,
            thread,
            p,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn validate(
        &self,
        id: String,
        kind: &str,
        address: &str,
        name: Option<&str>,
        reference: Option<&str>,
        properties: serde_json::Map<String, serde_json::Value>,
        now: Timestamp,
    ) -> Result<Event, String> {
        let properties = serde_json::value::to_raw_value(&properties).map_err(|e| e.to_string())?;
        let at = self.mail.at.to_string();
        let input = EventInput {
            id: Some(id.as_str().into()),
            kind: Some(kind.into()),
            customer: Some(address.into()),
            customer_email: Some(address.into()),
            customer_name: name.map(|n| n.chars().take(200).collect::<String>().into()),
            customer_phone: None,
            customer_timezone: None,
            at: Some(at.as_str().into()),
            channel: Some("email".into()),
            reference: reference.map(Into::into),
            properties: Some(&properties),
        };
        input
            .validate(now, &mut crate::ingest::new_event_id)
            .map_err(|e| e.to_string())
    }
}

/// `seen connectors test NAME`: connects, and for each folder reads the latest `limit` mails and says
/// what each would become, writing nothing.
pub async fn dry_run(mailbox: &Mailbox, limit: usize) -> anyhow::Result<Vec<String>> {
    let mut session = session::open(&mailbox.endpoint).await?;
    let mut lines = vec![format!(
        "{}: connected to {}:{} as {}",
        mailbox.name, mailbox.endpoint.host, mailbox.endpoint.port, mailbox.endpoint.username
    )];
    for (folder, role) in &mailbox.folders {
        let selected = session.select(folder).await?;
        lines.push(format!(
            "{folder} ({}): {} mails, UIDVALIDITY {}",
            role.as_str(),
            selected.exists,
            selected.uid_validity.unwrap_or(0)
        ));
        if selected.exists == 0 {
            continue;
        }
        let first = selected.exists.saturating_sub(limit as u32).max(1);
        let fetched: Vec<async_imap::types::Fetch> = session
            .fetch(
                format!("{first}:{}", selected.exists),
                "(UID INTERNALDATE BODY.PEEK[HEADER])",
            )
            .await?
            .try_collect()
            .await?;
        for fetch in &fetched {
            let received = fetch
                .internal_date()
                .and_then(|d| Timestamp::from_second(d.timestamp()).ok());
            let uid = fetch.uid.unwrap_or(0);
            let line = match fetch
                .header()
                .map(|h| mail::read(h, received, *role, &mailbox.ours))
            {
                Some(Ok(m)) => format!("  UID {uid}: {}", describe(&m)),
                Some(Err(e)) => format!("  UID {uid}: skipped ({e})"),
                None => format!("  UID {uid}: no header returned"),
            };
            lines.push(line);
        }
    }
    let _ = session.logout().await;
    Ok(lines)
}

fn describe(m: &Mail) -> String {
    match &m.kind {
        Kind::Received { correspondent } => format!(
            "message.received from {} at {} ({:?})",
            correspondent.address, m.at, m.subject
        ),
        Kind::Sent { recipients } => format!(
            "message.sent to {} at {} ({:?})",
            recipients
                .iter()
                .map(|p| p.address.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            m.at,
            m.subject
        ),
        Kind::Bounce { recipients, .. } => {
            format!("message.bounced for {}", recipients.join(", "))
        }
        Kind::Ignored(reason) => format!("ignored ({reason}): {:?}", m.subject),
    }
}
