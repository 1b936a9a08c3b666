//! Certificate status for the OCSP responder, and its pre-built responses.

use crate::{Result, Store, Ts};
use sqlx::Row;

/// A pre-built, signed OCSP response as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOcsp {
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
    /// Its thisUpdate (Unix seconds).
    pub this_update: Ts,
    /// Its nextUpdate.
    pub next_update: Ts,
    /// Whether it states "revoked" (else "good").
    pub revoked: bool,
}

impl StoredOcsp {
    /// What its `states` column says.
    fn states(&self) -> &'static str {
        if self.revoked { "revoked" } else { "good" }
    }

    /// Its columns after `cert_id`, in the order of the inserts below.
    fn vals(&self) -> [crate::exec::Val; 4] {
        [
            self.this_update.into(),
            self.next_update.into(),
            self.der.clone().into(),
            self.states().into(),
        ]
    }
}

/// How a stored response is replaced by a newer one for the same certificate.
const REPLACE: &str = "ON CONFLICT (cert_id) DO UPDATE SET this_update = excluded.this_update, \
     next_update = excluded.next_update, der = excluded.der, states = excluded.states";

/// The response of a joined row, if it states `revoked`, is valid at `fresh_at` and was
/// not made after `now` (a clock stepped back: clients refuse a thisUpdate in the future).
fn stored_of(
    r: &sqlx::any::AnyRow,
    revoked: bool,
    fresh_at: Ts,
    now: Ts,
) -> Result<Option<StoredOcsp>> {
    let states: Option<String> = r.try_get("states")?;
    let want = if revoked { "revoked" } else { "good" };
    if states.as_deref() != Some(want) {
        return Ok(None);
    }
    let next_update: Option<i64> = r.try_get("next_update")?;
    let (Some(der), Some(this_update), Some(next_update)) = (
        r.try_get::<Option<Vec<u8>>, _>("der")?,
        r.try_get::<Option<i64>, _>("this_update")?,
        next_update,
    ) else {
        return Ok(None);
    };
    if next_update <= fresh_at || this_update > now {
        return Ok(None);
    }
    Ok(Some(StoredOcsp {
        der,
        this_update,
        next_update,
        revoked,
    }))
}

/// A certificate's status as OCSP reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    /// Issued and not revoked.
    Good,
    /// Revoked at, with the RFC 5280 reason code.
    Revoked(Ts, i64),
    /// No issued certificate with this serial (reserved, abandoned or never seen).
    Unknown,
}

impl Store {
    /// The OCSP status of `serial` (hex) under `issuer`.
    pub async fn certificate_state(&self, issuer: &str, serial: &str) -> Result<CertState> {
        let row = sqlx::query("SELECT revoked_at, revocation_reason FROM certificates WHERE issuer = $1 AND serial = $2 AND status = 'issued'")
            .bind(issuer)
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => CertState::Unknown,
            Some(r) => match r.try_get::<Option<i64>, _>("revoked_at")? {
                None => CertState::Good,
                Some(at) => CertState::Revoked(
                    at,
                    r.try_get::<Option<i64>, _>("revocation_reason")?
                        .unwrap_or(0),
                ),
            },
        })
    }

    /// The status of each of `serials` (at most a few thousand), in one query per 500.
    pub async fn certificate_states(
        &self,
        issuer: &str,
        serials: &[String],
    ) -> Result<Vec<(String, CertState)>> {
        let mut out = Vec::with_capacity(serials.len());
        for chunk in serials.chunks(500) {
            let sql = format!(
                "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer = $1 AND status = 'issued' AND serial IN {}",
                crate::sql::placeholders(1, chunk.len(), 1)
            );
            let mut q = sqlx::query(&sql).bind(issuer.to_owned());
            for s in chunk {
                q = q.bind(s.clone());
            }
            for r in q.fetch_all(self.reader()).await? {
                let state = match r.try_get::<Option<i64>, _>("revoked_at")? {
                    None => CertState::Good,
                    Some(at) => CertState::Revoked(
                        at,
                        r.try_get::<Option<i64>, _>("revocation_reason")?
                            .unwrap_or(0),
                    ),
                };
                out.push((r.try_get("serial")?, state));
            }
        }
        Ok(out)
    }

    /// A stored response for `serial` that is still valid at `fresh_at`.
    pub async fn cached_ocsp(
        &self,
        issuer: &str,
        serial: &str,
        fresh_at: Ts,
    ) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT o.der FROM certificates c JOIN ocsp_responses o ON o.cert_id = c.id WHERE c.issuer = $1 AND c.serial = $2 AND o.next_update > $3",
        )
        .bind(issuer)
        .bind(serial)
        .bind(fresh_at)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores (replaces) the response for `serial`, saying which status it states
    /// (`good` or `revoked`: a response is only served while its certificate still has
    /// that status). Nothing is stored for a serial the issuer never used.
    pub async fn save_ocsp(&self, issuer: &str, serial: &str, response: &StoredOcsp) -> Result<()> {
        sqlx::query(&format!("INSERT INTO ocsp_responses (cert_id, this_update, next_update, der, states) SELECT id, $3, $4, $5, $6 FROM certificates WHERE issuer = $1 AND serial = $2 {REPLACE}"))
            .bind(issuer)
            .bind(serial)
            .bind(response.this_update)
            .bind(response.next_update)
            .bind(response.der.clone())
            .bind(response.states())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores many pre-built responses in one transaction (a mass revocation re-signs
    /// thousands).
    pub async fn save_ocsp_many(
        &self,
        issuer: &str,
        responses: &[(String, StoredOcsp)],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        save_ocsp_in(&mut tx, issuer, responses).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The status of `serial` and, if one is stored that states this status and is
    /// still valid at `fresh_at`, its pre-built response: one query, so a response
    /// stored before a revocation is never taken for the revoked certificate's.
    pub async fn ocsp_lookup(
        &self,
        issuer: &str,
        serial: &str,
        fresh_at: Ts,
    ) -> Result<(CertState, Option<StoredOcsp>)> {
        let row = sqlx::query(
            "SELECT c.revoked_at, c.revocation_reason, o.der, o.this_update, o.next_update, o.states \
             FROM certificates c LEFT JOIN ocsp_responses o ON o.cert_id = c.id \
             WHERE c.issuer = $1 AND c.serial = $2 AND c.status = 'issued'",
        )
        .bind(issuer)
        .bind(serial)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else {
            return Ok((CertState::Unknown, None));
        };
        let state = match r.try_get::<Option<i64>, _>("revoked_at")? {
            None => CertState::Good,
            Some(at) => CertState::Revoked(
                at,
                r.try_get::<Option<i64>, _>("revocation_reason")?
                    .unwrap_or(0),
            ),
        };
        let stored = stored_of(&r, state != CertState::Good, fresh_at, fresh_at)?;
        Ok((state, stored))
    }

    /// Valid pre-built responses that state their certificate's current status, newest
    /// certificates first, `limit` at a time below certificate id `before` (to fill the
    /// responder's memory at start). Returns the rows and the id to continue below.
    pub async fn current_ocsp_responses(
        &self,
        issuer: &str,
        fresh_at: Ts,
        now: Ts,
        before: i64,
        limit: i64,
    ) -> Result<(Vec<(String, StoredOcsp)>, Option<i64>)> {
        let rows = sqlx::query(
            "SELECT c.id, c.serial, c.revoked_at, o.der, o.this_update, o.next_update, o.states \
             FROM certificates c JOIN ocsp_responses o ON o.cert_id = c.id \
             WHERE c.issuer = $1 AND c.status = 'issued' AND c.id < $2 AND c.not_after > $3 ORDER BY c.id DESC LIMIT $4",
        )
        .bind(issuer)
        .bind(before)
        .bind(fresh_at)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut last = None;
        for r in &rows {
            last = Some(r.try_get::<i64, _>("id")?);
            let revoked = r.try_get::<Option<i64>, _>("revoked_at")?.is_some();
            if let Some(stored) = stored_of(r, revoked, fresh_at, now)? {
                out.push((r.try_get("serial")?, stored));
            }
        }
        let more = if rows.len() as i64 == limit {
            last
        } else {
            None
        };
        Ok((out, more))
    }

    /// Issued, unexpired serials whose response is missing or was built before
    /// `built_before` (the refresh picks them up well before nextUpdate).
    pub async fn serials_needing_ocsp(
        &self,
        issuer: &str,
        now: Ts,
        built_before: Ts,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT c.serial FROM certificates c LEFT JOIN ocsp_responses o ON o.cert_id = c.id \
             WHERE c.issuer = $1 AND c.status = 'issued' AND c.not_after > $2 \
             AND (o.cert_id IS NULL OR o.this_update < $3 OR o.this_update > $2 OR o.states IS NULL OR o.states <> CASE WHEN c.revoked_at IS NULL THEN 'good' ELSE 'revoked' END) ORDER BY c.id LIMIT $4",
        )
        .bind(issuer)
        .bind(now)
        .bind(built_before)
        .bind(limit)
        // A read-only connection (issue #12, found by the soak): on SQLite this scan
        // took seconds on the writer and every write — sessions, job leases — timed out.
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("serial")?)).collect()
    }
}

/// Changes of certificates' status made by any instance, announced by PostgreSQL at
/// commit (`LISTEN shomei_cert_status`, filled by a trigger of migration 0018).
pub struct StatusListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for StatusListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusListener")
    }
}

/// What a [`StatusListener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// The status of this issuer's serial changed.
    Certificate(String, String),
    /// The connection was lost (and is re-established on the next call):
    /// announcements may have been missed.
    Lost,
}

impl StatusListener {
    /// The next change.
    pub async fn next(&mut self) -> Result<StatusChange> {
        Ok(match self.0.try_recv().await? {
            None => StatusChange::Lost,
            Some(n) => match n.payload().split_once(' ') {
                Some((issuer, serial)) => {
                    StatusChange::Certificate(issuer.to_string(), serial.to_string())
                }
                None => StatusChange::Lost,
            },
        })
    }
}

impl Store {
    /// A listener for status changes made by every instance: `None` on SQLite (one
    /// process owns the database; its own changes go through its RA).
    pub async fn status_listener(&self) -> Result<Option<StatusListener>> {
        if self.backend != crate::Backend::Postgres {
            return Ok(None);
        }
        let mut l = sqlx::postgres::PgListener::connect(&self.url.0).await?;
        l.listen("shomei_cert_status").await?;
        Ok(Some(StatusListener(l)))
    }
}

/// Stores pre-built responses of `issuer`'s serials inside `tx`, 200 rows per
/// statement (each under its certificate's id; a serial the issuer never used stores
/// nothing).
pub(crate) async fn save_ocsp_in<E: crate::exec::Exec>(
    tx: &mut E,
    issuer: &str,
    responses: &[(String, StoredOcsp)],
) -> Result<()> {
    for chunk in responses.chunks(200) {
        let sql = format!(
            "INSERT INTO ocsp_responses (cert_id, this_update, next_update, der, states) \
             SELECT c.id, v.column2, v.column3, v.column4, v.column5 FROM (VALUES {}) AS v \
             JOIN certificates c ON c.issuer = $1 AND c.serial = v.column1 WHERE true \
             {REPLACE}",
            crate::sql::placeholders(chunk.len(), 5, 1)
        );
        let mut args = Vec::with_capacity(1 + chunk.len() * 5);
        args.push(issuer.into());
        for (serial, r) in chunk {
            args.push(serial.clone().into());
            args.extend(r.vals());
        }
        tx.run(&sql, args).await?;
    }
    Ok(())
}

/// Stores certificates' first responses inside `tx` by their rows' ids (issuance: the
/// rows are in the same transaction), 200 rows per statement.
pub(crate) async fn save_first_ocsp_in<E: crate::exec::Exec>(
    tx: &mut E,
    responses: &[(i64, &StoredOcsp)],
) -> Result<()> {
    for chunk in responses.chunks(200) {
        let sql = format!(
            "INSERT INTO ocsp_responses (cert_id, this_update, next_update, der, states) VALUES {} {REPLACE}",
            crate::sql::placeholders(chunk.len(), 5, 0)
        );
        let mut args = Vec::with_capacity(chunk.len() * 5);
        for (id, r) in chunk {
            args.push((*id).into());
            args.extend(r.vals());
        }
        tx.run(&sql, args).await?;
    }
    Ok(())
}
