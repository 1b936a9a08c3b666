//! Mass revocation (issue #11 item 3): a list of serials, or every certificate with one
//! compromised key, revoked at once by staff. The request is stored as a draft, shown
//! to staff with what it would revoke, then confirmed; a worker revokes it in chunks.
//! Each chunk is one transaction: the certificates, their audit events, the customers'
//! notices and the progress, so a process killed half-way resumes where it stopped
//! and nothing is revoked twice or left out.

use crate::audit::{AuditEvent, append, append_many};
use crate::jobs::enqueue_many;
use crate::{Result, Store, Ts};
use shomei_model::Actor;
use sqlx::Row;

/// What a mass revocation revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassSelection {
    /// These serials (normalised lower-case hex), in the order given, without repeats.
    Serials(Vec<String>),
    /// Every live certificate with this SHA-256 SPKI hash; the key is blocked.
    Key(String),
}

/// A mass revocation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassRevocation {
    /// Id.
    pub id: i64,
    /// The staff member who asked for it.
    pub staff_id: i64,
    /// The RFC 5280 CRLReason code.
    pub crl_reason: i64,
    /// Why, in staff's words (audited).
    pub note: String,
    /// By key: the key's SHA-256 SPKI hash.
    pub spki_sha256: Option<String>,
    /// `draft`, `running`, `done` or `cancelled`.
    pub status: String,
    /// Serials listed, or (by key) live certificates with the key when it was asked.
    pub total: i64,
    /// Serials (or certificates) gone through so far.
    pub position: i64,
    /// Certificates revoked so far.
    pub revoked: i64,
    /// When it was asked.
    pub created_at: Ts,
    /// When staff confirmed it.
    pub started_at: Option<Ts>,
    /// When the last chunk was revoked.
    pub finished_at: Option<Ts>,
}

/// What a draft would do, for staff to confirm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MassPreview {
    /// Certificates it would revoke now.
    pub live: i64,
    /// Listed certificates already revoked.
    pub already_revoked: i64,
    /// Listed certificates already expired (left as they are).
    pub expired: i64,
    /// Listed serials this CA never issued.
    pub unknown: i64,
    /// Up to 20 of the unknown serials.
    pub unknown_sample: Vec<String>,
}

/// The certificates one chunk revoked: (serial, application) pairs.
pub type Revoked = Vec<(String, i64)>;

fn mass_of(r: &sqlx::any::AnyRow) -> Result<MassRevocation> {
    Ok(MassRevocation {
        id: r.try_get("id")?,
        staff_id: r.try_get("staff_id")?,
        crl_reason: r.try_get("crl_reason")?,
        note: r.try_get("note")?,
        spki_sha256: r.try_get("spki_sha256")?,
        status: r.try_get("status")?,
        total: r.try_get("total")?,
        position: r.try_get("position")?,
        revoked: r.try_get("revoked")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

const COLUMNS: &str = "id, staff_id, crl_reason, note, spki_sha256, status, total, position, revoked, created_at, started_at, finished_at";

impl Store {
    /// Stores a mass revocation as a draft (nothing revoked yet) and returns its id.
    pub async fn create_mass_revocation(
        &self,
        issuer: &str,
        staff_id: i64,
        crl_reason: i64,
        note: &str,
        selection: &MassSelection,
        now: Ts,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let (spki, total) = match selection {
            MassSelection::Serials(s) => (None, s.len() as i64),
            MassSelection::Key(k) => {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE issuer = $1 AND spki_sha256 = $2 AND status = 'issued' AND revoked_at IS NULL AND not_after > $3")
                    .bind(issuer)
                    .bind(k)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                (Some(k.clone()), n)
            }
        };
        let id: i64 = sqlx::query_scalar("INSERT INTO mass_revocations (staff_id, crl_reason, note, spki_sha256, status, total, created_at) VALUES ($1, $2, $3, $4, 'draft', $5, $6) RETURNING id")
            .bind(staff_id)
            .bind(crl_reason)
            .bind(note)
            .bind(spki)
            .bind(total)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        if let MassSelection::Serials(serials) = selection {
            let mut seq = 0_i64;
            for chunk in serials.chunks(1000) {
                let sql = format!(
                    "INSERT INTO mass_revocation_serials (mass_id, seq, serial) VALUES {}",
                    crate::sql::placeholders(chunk.len(), 3, 0)
                );
                let mut q = sqlx::query(&sql);
                for s in chunk {
                    q = q.bind(id).bind(seq).bind(s.clone());
                    seq += 1;
                }
                q.execute(&mut *tx).await?;
            }
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Staff(staff_id),
                "revocation.mass_drafted",
                format!("mass_revocation:{id}"),
                serde_json::json!({ "total": total, "crl_reason": crl_reason, "note": note, "spki_sha256": selection_key(selection) }),
            ),
        )
        .await?;
        tx.commit().await?;
        if matches!(self.backend, crate::Backend::Postgres) {
            // Thousands of rows just arrived: let the planner know before the preview.
            sqlx::query("ANALYZE mass_revocation_serials")
                .execute(&self.pool)
                .await?;
        }
        Ok(id)
    }

    /// The SHA-256 SPKI hash of an issued certificate of `issuer`.
    pub async fn certificate_spki(&self, issuer: &str, serial: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT spki_sha256 FROM certificates WHERE issuer = $1 AND serial = $2 AND status = 'issued'")
            .bind(issuer)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// One mass revocation.
    pub async fn mass_revocation(&self, id: i64) -> Result<Option<MassRevocation>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mass_revocations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(mass_of).transpose()
    }

    /// The latest mass revocations, newest first.
    pub async fn recent_mass_revocations(&self, n: i64) -> Result<Vec<MassRevocation>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mass_revocations ORDER BY id DESC LIMIT $1"
        ))
        .bind(n)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mass_of).collect()
    }

    /// Mass revocations confirmed and not finished (a worker's, or a crashed one's).
    pub async fn running_mass_revocations(&self) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM mass_revocations WHERE status = 'running' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// What a listed draft would do at `now`.
    pub async fn mass_preview(
        &self,
        issuer: &str,
        m: &MassRevocation,
        now: Ts,
    ) -> Result<MassPreview> {
        let id = m.id;
        if m.spki_sha256.is_some() {
            return Ok(MassPreview {
                live: m.total,
                ..MassPreview::default()
            });
        }
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN c.id IS NULL THEN 1 ELSE 0 END), 0) AS unknown, \
               COALESCE(SUM(CASE WHEN c.revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS revoked, \
               COALESCE(SUM(CASE WHEN c.revoked_at IS NULL AND c.not_after <= $3 THEN 1 ELSE 0 END), 0) AS expired, \
               COALESCE(SUM(CASE WHEN c.revoked_at IS NULL AND c.not_after > $3 THEN 1 ELSE 0 END), 0) AS live \
             FROM mass_revocation_serials s \
             LEFT JOIN certificates c ON c.issuer = $2 AND c.serial = s.serial AND c.status = 'issued' \
             WHERE s.mass_id = $1",
        )
        .bind(id)
        .bind(issuer)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let unknown_sample = sqlx::query_scalar(
            "SELECT s.serial FROM mass_revocation_serials s \
             WHERE s.mass_id = $1 AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.issuer = $2 AND c.serial = s.serial AND c.status = 'issued') \
             ORDER BY s.seq LIMIT 20",
        )
        .bind(id)
        .bind(issuer)
        .fetch_all(&self.pool)
        .await?;
        Ok(MassPreview {
            live: row.try_get("live")?,
            already_revoked: row.try_get("revoked")?,
            expired: row.try_get("expired")?,
            unknown: row.try_get("unknown")?,
            unknown_sample,
        })
    }

    /// Staff confirm a draft: it starts running (by key, the key is blocked in the same
    /// transaction, so nothing more is issued with it). `false` if it was not a draft
    /// (a second click, or cancelled).
    pub async fn start_mass_revocation(&self, id: i64, staff_id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("UPDATE mass_revocations SET status = 'running', started_at = $2 WHERE id = $1 AND status = 'draft' RETURNING spki_sha256, total")
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let spki: Option<String> = row.try_get("spki_sha256")?;
        let actor = Actor::Staff(staff_id);
        let subject = format!("mass_revocation:{id}");
        if let Some(spki) = &spki {
            crate::revocations::block_key(&mut tx, spki, &subject, actor, now).await?;
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "revocation.mass_started",
                subject,
                serde_json::json!({ "total": row.try_get::<i64, _>("total")? }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Staff drop a draft. `false` if it was not a draft.
    pub async fn cancel_mass_revocation(&self, id: i64, staff_id: i64, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE mass_revocations SET status = 'cancelled', finished_at = $2 WHERE id = $1 AND status = 'draft'")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if done {
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    Actor::Staff(staff_id),
                    "revocation.mass_cancelled",
                    format!("mass_revocation:{id}"),
                    serde_json::json!({}),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Revokes the next `chunk` certificates of a running mass revocation in one
    /// transaction: each certificate audited and its customers' notice queued, the
    /// progress moved on; the last chunk marks it done. Returns what it revoked, or
    /// `None` when there was nothing left (or another worker took this chunk).
    pub async fn mass_revocation_step(
        &self,
        issuer: &str,
        id: i64,
        chunk: i64,
        now: Ts,
    ) -> Result<Option<Revoked>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mass_revocations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(m) = row.as_ref().map(mass_of).transpose()? else {
            return Ok(None);
        };
        if m.status != "running" {
            return Ok(None);
        }
        // The serials of this chunk, and how far it moves the position.
        let (serials, advance): (Vec<String>, i64) = match &m.spki_sha256 {
            Some(spki) => {
                let s: Vec<String> = sqlx::query_scalar("SELECT serial FROM certificates WHERE issuer = $1 AND spki_sha256 = $2 AND status = 'issued' AND revoked_at IS NULL AND not_after > $3 ORDER BY id LIMIT $4")
                    .bind(issuer)
                    .bind(spki)
                    .bind(now)
                    .bind(chunk)
                    .fetch_all(&mut *tx)
                    .await?;
                let n = s.len() as i64;
                (s, n)
            }
            None => {
                let s: Vec<String> = sqlx::query_scalar("SELECT serial FROM mass_revocation_serials WHERE mass_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3")
                    .bind(id)
                    .bind(m.position)
                    .bind(chunk)
                    .fetch_all(&mut *tx)
                    .await?;
                let n = s.len() as i64;
                (s, n)
            }
        };
        let mut revoked: Revoked = Vec::new();
        if !serials.is_empty() {
            let sql = format!(
                "UPDATE certificates SET revoked_at = $2, revocation_reason = $3 \
                 WHERE issuer = $1 AND status = 'issued' AND revoked_at IS NULL AND not_after > $2 AND serial IN {} \
                 RETURNING serial, application_id",
                crate::sql::placeholders(1, serials.len(), 3)
            );
            let mut q = sqlx::query(&sql).bind(issuer).bind(now).bind(m.crl_reason);
            for s in &serials {
                q = q.bind(s.clone());
            }
            for r in q.fetch_all(&mut *tx).await? {
                revoked.push((r.try_get("serial")?, r.try_get("application_id")?));
            }
        }
        let finished = serials.len() < chunk as usize;
        let actor = Actor::Staff(m.staff_id);
        let subject = format!("mass_revocation:{id}");
        let mut events: Vec<AuditEvent> = revoked
            .iter()
            .map(|(serial, app)| {
                AuditEvent::new(
                    now,
                    actor,
                    "certificate.revoked",
                    format!("application:{app}"),
                    serde_json::json!({ "serial": serial, "reason": m.crl_reason, "mass_revocation": id }),
                )
            })
            .collect();
        if finished {
            events.push(AuditEvent::new(
                now,
                actor,
                "revocation.mass_done",
                subject,
                serde_json::json!({ "revoked": m.revoked + revoked.len() as i64 }),
            ));
        }
        append_many(&mut tx, &events).await?;
        let notices: Vec<serde_json::Value> = revoked
            .iter()
            .map(|(serial, app)| serde_json::json!({ "application_id": app, "serials": [serial], "crl_reason": m.crl_reason }))
            .collect();
        enqueue_many(&mut tx, "mail.revoked_by_ca", &notices, now).await?;
        let moved = sqlx::query("UPDATE mass_revocations SET position = position + $3, revoked = revoked + $4, status = $5, finished_at = $6 WHERE id = $1 AND position = $2 AND status = 'running'")
            .bind(id)
            .bind(m.position)
            .bind(advance)
            .bind(revoked.len() as i64)
            .bind(if finished { "done" } else { "running" })
            .bind(finished.then_some(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved != 1 {
            // Another worker moved it first: this chunk is theirs.
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(revoked))
    }
}

fn selection_key(s: &MassSelection) -> Option<&str> {
    match s {
        MassSelection::Key(k) => Some(k),
        MassSelection::Serials(_) => None,
    }
}
