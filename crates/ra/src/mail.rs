//! Notice mails (issue #3 "Notices"): the jobs queued with each change are sent here,
//! through SMTP when configured, otherwise written as .eml files to an outbox
//! directory. Japanese first, with an English part. Workers are idempotent per job.

use crate::{Ra, RaError, Result};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shomei_store::jobs::Job;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where mails go.
#[derive(Clone)]
pub enum Transport {
    /// `.eml` files in this directory (the default without SMTP).
    Outbox(PathBuf),
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Mail settings.
#[derive(Clone)]
pub struct MailSettings {
    /// Sender.
    pub from: Mailbox,
    /// Where staff notices go.
    pub staff_to: Mailbox,
    /// The portal's URL, written into customer mails.
    pub portal_url: String,
    /// The transport.
    pub transport: Transport,
}

impl MailSettings {
    /// Settings for an SMTP URL (`smtp://host:port`, plain, for a local relay) or,
    /// without one, for an outbox directory.
    pub fn new(
        from: &str,
        staff_to: &str,
        portal_url: &str,
        smtp: Option<&str>,
        outbox: PathBuf,
    ) -> std::result::Result<MailSettings, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("mail.from {from:?}: {e}"))?;
        let staff_to: Mailbox = staff_to
            .parse()
            .map_err(|e| format!("mail.staff_to {staff_to:?}: {e}"))?;
        let transport = match smtp {
            Some(url) => {
                // A local relay (plain SMTP); the relay does TLS onwards. smtp://host:port
                let rest = url.strip_prefix("smtp://").ok_or_else(|| {
                    format!("mail.smtp_url must be smtp://host:port, not {url:?}")
                })?;
                let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
                    Some((h, p)) => (
                        h.to_owned(),
                        p.parse::<u16>()
                            .map_err(|_| format!("mail.smtp_url: bad port in {url:?}"))?,
                    ),
                    None => (rest.trim_end_matches('/').to_owned(), 25),
                };
                Transport::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                        .port(port)
                        .build(),
                )
            }
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    format!("cannot create the mail outbox {}: {e}", outbox.display())
                })?;
                Transport::Outbox(outbox)
            }
        };
        Ok(MailSettings {
            from,
            staff_to,
            portal_url: portal_url.to_owned(),
            transport,
        })
    }
}

fn texts() -> &'static HashMap<String, String> {
    static T: OnceLock<HashMap<String, String>> = OnceLock::new();
    T.get_or_init(|| toml::from_str(include_str!("../mail/messages.toml")).unwrap_or_default())
}

pub(crate) fn fill(key: &str, vars: &[(&str, String)]) -> String {
    let mut s = texts().get(key).cloned().unwrap_or_default();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// A composed mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Body: Japanese, then English.
    pub body: String,
    /// The Message-ID's left part, the same each time the same job sends (issue #12: a
    /// mail re-sent after a crash carries the Message-ID of the first, so mail programs
    /// that drop duplicates show it once).
    pub id: String,
}

fn jst(ts: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ts)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+9));
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

impl Ra {
    /// Composes the mail of a job from the database, or `None` if there is nothing to
    /// send (e.g. the record disappeared).
    pub async fn compose(&self, job: &Job) -> Result<Option<Mail>> {
        let Some(m) = &self.mail else { return Ok(None) };
        let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
        let Some(id) = payload
            .get("application_id")
            .and_then(serde_json::Value::as_i64)
        else {
            return Ok(None);
        };
        let Some(app) = self.store.application(id).await? else {
            return Ok(None);
        };
        let account = self.store.account(app.account_id).await?;
        let org = app.details.organisation.name.clone();
        let c = &app.details.contacts;
        let mut customer: Vec<String> = [&c.registrant.email, &c.technical.email]
            .into_iter()
            .filter(|e| !e.is_empty())
            .cloned()
            .collect();
        if let Some(a) = &account {
            customer.push(a.email.clone());
        }
        customer.dedup();
        let staff = vec![m.staff_to.to_string()];
        let registrant: Vec<String> = Some(c.registrant.email.clone())
            .filter(|e| !e.is_empty())
            .into_iter()
            .collect();
        let technical: Vec<String> = Some(c.technical.email.clone())
            .filter(|e| !e.is_empty())
            .into_iter()
            .collect();
        let validity = match (app.cert_not_before, app.cert_not_after) {
            (Some(b), Some(e)) => format!("{} – {}", jst(b), jst(e)),
            _ => "-".into(),
        };
        let vars = vec![
            ("id", id.to_string()),
            ("org", org),
            ("names", app.names.join(", ")),
            (
                "contract",
                app.contract_code.clone().unwrap_or_else(|| "-".into()),
            ),
            ("validity", validity),
            ("portal", m.portal_url.clone()),
            ("service", app.service.code().to_owned()),
            ("note", app.documents_note.clone().unwrap_or_default()),
            ("reason", app.revocation_reason.clone().unwrap_or_default()),
            (
                "deadline",
                Ra::revocation_deadline(&app).map(jst).unwrap_or_default(),
            ),
            (
                "registrant",
                format!(
                    "{} {} {}",
                    c.registrant.name, c.registrant.phone, c.registrant.email
                ),
            ),
            ("at", jst(app.updated_at)),
            (
                "serials",
                payload
                    .get("serials")
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| app.target_id.map(|t| t.to_string()).unwrap_or_default()),
            ),
            (
                "crl_reason",
                payload
                    .get("crl_reason")
                    .and_then(serde_json::Value::as_i64)
                    .map(crl_reason_words)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (
                "domain",
                payload
                    .get("domain")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (
                "detail",
                payload
                    .get("detail")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ];
        // 更新のご案内メール: only the contacts who asked for it.
        let wants_reminders: Vec<String> = {
            let mut v: Vec<String> = c
                .all()
                .filter(|x| x.renewal_mail && !x.email.is_empty())
                .map(|x| x.email.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let mut vars = vars;
        vars.push((
            "days",
            payload
                .get("days")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or_default()
                .to_string(),
        ));
        vars.push((
            "ends",
            payload
                .get("ends_at")
                .and_then(serde_json::Value::as_i64)
                .map(jst)
                .unwrap_or_default(),
        ));
        let reminder = if payload
            .get("subject")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|s| s.starts_with("certificate:"))
        {
            "reminder_certificate"
        } else {
            "reminder_contract"
        };
        let (prefix, to) = match job.kind.as_str() {
            "mail.reminder" if wants_reminders.is_empty() => return Ok(None),
            "mail.reminder" => (reminder, wants_reminders),
            "mail.issued" if app.kind == shomei_model::AppKind::Reissue => ("reissued", customer),
            "mail.issued" => ("issued", customer),
            "mail.staff_new_application" => ("staff_new", staff),
            "mail.staff_revocation_request" => ("staff_revocation", staff),
            "mail.revoked" => ("revoked", customer),
            "mail.revoked_by_ca" => ("revoked_by_ca", customer),
            "mail.documents_requested" => ("documents", customer),
            "mail.acme_first_issuance" => ("acme_first", registrant),
            "mail.validation_failing" => ("validation_failing", technical),
            _ => return Ok(None),
        };
        Ok(Some(Mail {
            id: format!("shomei.{}.{}.{}", job.kind, id, job.id),
            to,
            subject: fill(&format!("{prefix}.subject"), &vars),
            body: format!(
                "{}\n\n---- English ----\n\n{}\n",
                fill(&format!("{prefix}.ja"), &vars),
                fill(&format!("{prefix}.en"), &vars)
            ),
        }))
    }

    pub(crate) async fn send(&self, mail: &Mail) -> Result<()> {
        let Some(m) = &self.mail else { return Ok(()) };
        let mut b = Message::builder()
            .from(m.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@{}>", mail.id, m.from.email.domain())));
        for to in &mail.to {
            b = b.to(to
                .parse()
                .map_err(|_| RaError::Invalid("err.mail_address"))?);
        }
        let msg = b
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .header(ContentTransferEncoding::Base64)
                    .body(mail.body.clone()),
            )
            .map_err(|e| RaError::Mail(e.to_string()))?;
        match &m.transport {
            Transport::Smtp(t) => {
                t.send(msg)
                    .await
                    .map_err(|e| RaError::Mail(e.to_string()))?;
            }
            Transport::Outbox(dir) => {
                AsyncFileTransport::<Tokio1Executor>::new(dir)
                    .send(msg)
                    .await
                    .map_err(|e| RaError::Mail(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Runs up to `max` due jobs. A failed job is retried later (backoff doubling from
    /// one minute) and, after ten attempts, left failed for an operator to see.
    ///
    /// Several instances share the queue (issue #12): a claimed job is this instance's
    /// for [`shomei_store::Store::job_lease`] seconds (60 by default), renewed every quarter of that while
    /// it runs; only jobs whose lease expired (their instance died) are taken back. Once
    /// [`Ra::begin_shutdown`] is called no further job is claimed.
    pub async fn run_due_jobs(&self, max: usize) -> Result<usize> {
        let mut n = 0;
        let requeued = self.store.requeue_expired_jobs(self.now()).await?;
        if requeued > 0 {
            tracing::warn!(
                requeued,
                "jobs whose worker stopped were put back in the queue"
            );
        }
        while n < max && !self.is_stopping() {
            let now = self.now();
            let Some(job) = self.store.claim_job(now).await? else {
                break;
            };
            n += 1;
            fail::fail_point!("job.claimed");
            let work = self.run_job(&job);
            tokio::pin!(work);
            let beat = std::time::Duration::from_millis(
                u64::try_from(self.store.job_lease() * 250).unwrap_or(15_000),
            );
            let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
            let outcome = loop {
                tokio::select! {
                    o = &mut work => break o,
                    _ = heartbeat.tick() => {
                        match self.store.renew_job_lease(job.id, self.now()).await {
                            Ok(true) => {}
                            Ok(false) => tracing::warn!(job = job.id, "job lease lost while running"),
                            Err(e) => tracing::warn!(job = job.id, "job lease not renewed: {e}"),
                        }
                    }
                }
            };
            fail::fail_point!("job.ran");
            let result = match outcome {
                Ok(()) => Ok(()),
                Err(e) => {
                    let backoff = 60_i64 << job.attempts.clamp(0, 10);
                    tracing::warn!(job = job.id, kind = %job.kind, "job failed: {e}");
                    Err((e.to_string(), now + backoff))
                }
            };
            if !self.store.finish_job(job.id, result).await? {
                tracing::warn!(
                    job = job.id,
                    kind = %job.kind,
                    "job finished after its lease expired and another instance took it over"
                );
            }
        }
        Ok(n)
    }

    async fn run_job(&self, job: &shomei_store::jobs::Job) -> Result<()> {
        match job.kind.as_str() {
            k if k.starts_with("mail.") => match self.compose(job).await {
                Ok(Some(mail)) => self.send(&mail).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            "revoke.superseded" => {
                let payload: serde_json::Value =
                    serde_json::from_str(&job.payload).unwrap_or_default();
                match (
                    payload.get("target").and_then(serde_json::Value::as_i64),
                    payload.get("by").and_then(serde_json::Value::as_i64),
                ) {
                    (Some(target), Some(by)) => {
                        self.revoke_superseded(target, by).await.map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            other => {
                tracing::warn!(kind = other, "unknown job kind; marked done");
                Ok(())
            }
        }
    }
}

/// An RFC 5280 reason code in the notice's words (Japanese / English).
fn crl_reason_words(code: i64) -> &'static str {
    match code {
        1 => "鍵の危殆化 / key compromise",
        3 => "所属の変更 / affiliation changed",
        4 => "証明書の置き換え / superseded",
        5 => "運用の停止 / cessation of operation",
        9 => "認証局による権限の取り消し / privilege withdrawn",
        _ => "理由の指定なし / unspecified",
    }
}
