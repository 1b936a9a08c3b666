//! ACME (issue #10): external-account-binding credentials tied to one contract, the
//! ACME accounts bound with them, and the anti-replay nonces (stored, so several
//! instances on one PostgreSQL share them; each is used once).

use crate::audit::{AuditEvent, append};
use crate::sql::PORTAL_CERT_KINDS;
use crate::{Result, Store, StoreError, Ts};
use shomei_model::Actor;
use sqlx::Row;

/// An EAB credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EabCredential {
    /// Key identifier (given to the ACME client).
    pub kid: String,
    /// The customer account it belongs to.
    pub account_id: i64,
    /// The contract it is bound to.
    pub contract_id: i64,
    /// The contract's record it was made from.
    pub application_id: i64,
    /// The HMAC key, sealed (open with the RA's secret keys).
    pub hmac_key: String,
    /// When it was made.
    pub created_at: Ts,
    /// When it was disabled, if it was.
    pub disabled_at: Option<Ts>,
    /// When the contract ends.
    pub contract_ends_at: Ts,
    /// The ACME account bound with it, if any.
    pub acme_account: Option<i64>,
    /// When that account last registered, changed or ordered.
    pub acme_last_used: Option<Ts>,
}

/// An ACME account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAccount {
    /// Its id (in its URL).
    pub id: i64,
    /// RFC 7638 thumbprint of its key.
    pub thumbprint: String,
    /// Its public key, as the JWK JSON the client sent.
    pub jwk: String,
    /// The credential it was bound with.
    pub eab_kid: String,
    /// The customer account.
    pub account_id: i64,
    /// The contract.
    pub contract_id: i64,
    /// Its contact URLs, as JSON.
    pub contact: String,
    /// `valid`, `deactivated` or `revoked`, as stored.
    pub status: String,
    /// When it was made.
    pub created_at: Ts,
    /// When its credential was disabled, if it was.
    pub eab_disabled_at: Option<Ts>,
    /// When its contract ends.
    pub contract_ends_at: Ts,
}

/// A change to an ACME account (RFC 8555 7.3.2, 7.3.5, 7.3.6).
#[derive(Debug, Clone)]
pub enum AcmeChange {
    /// New contact URLs, as JSON.
    Contact(String),
    /// Deactivated by its holder: nothing more can be done with it.
    Deactivate,
    /// A new key (rollover).
    Key {
        /// RFC 7638 thumbprint of the new key.
        thumbprint: String,
        /// The new key (JWK JSON).
        jwk: String,
    },
}

/// A new ACME account.
#[derive(Debug, Clone)]
pub struct NewAcmeAccount {
    /// RFC 7638 thumbprint of its key.
    pub thumbprint: String,
    /// Its public key (JWK JSON).
    pub jwk: String,
    /// The credential that binds it.
    pub eab_kid: String,
    /// Its contact URLs, as JSON.
    pub contact: String,
}

const EAB_COLS: &str = "e.kid, e.account_id, e.contract_id, e.application_id, e.hmac_key, e.created_at, e.disabled_at, c.ends_at, (SELECT a.id FROM acme_accounts a WHERE a.eab_kid = e.kid) AS acme_account, (SELECT a.last_used_at FROM acme_accounts a WHERE a.eab_kid = e.kid) AS acme_last_used";

fn eab_of(r: &sqlx::any::AnyRow) -> Result<EabCredential> {
    Ok(EabCredential {
        kid: r.try_get("kid")?,
        account_id: r.try_get("account_id")?,
        contract_id: r.try_get("contract_id")?,
        application_id: r.try_get("application_id")?,
        hmac_key: r.try_get("hmac_key")?,
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
        contract_ends_at: r.try_get("ends_at")?,
        acme_account: r.try_get("acme_account")?,
        acme_last_used: r.try_get("acme_last_used")?,
    })
}

fn account_of(r: &sqlx::any::AnyRow) -> Result<AcmeAccount> {
    Ok(AcmeAccount {
        id: r.try_get("id")?,
        thumbprint: r.try_get("thumbprint")?,
        jwk: r.try_get("jwk")?,
        eab_kid: r.try_get("eab_kid")?,
        account_id: r.try_get("account_id")?,
        contract_id: r.try_get("contract_id")?,
        contact: r.try_get("contact")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        eab_disabled_at: r.try_get("eab_disabled_at")?,
        contract_ends_at: r.try_get("ends_at")?,
    })
}

const ACCOUNT_COLS: &str = "a.id, a.thumbprint, a.jwk, a.eab_kid, a.account_id, a.contract_id, a.contact, a.status, a.created_at, e.disabled_at AS eab_disabled_at, c.ends_at \
     FROM acme_accounts a JOIN acme_eab e ON e.kid = a.eab_kid JOIN contracts c ON c.id = a.contract_id";

impl Store {
    /// Stores a credential for the contract of `application_id`, if that record is the
    /// account's, 完了, and its contract has not ended at `now`; with its audit event.
    /// Returns whether it was stored.
    pub async fn create_eab(
        &self,
        kid: &str,
        account_id: i64,
        application_id: i64,
        sealed_key: &str,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "INSERT INTO acme_eab (kid, account_id, contract_id, application_id, hmac_key, created_at) \
             SELECT $1, a.account_id, a.contract_id, a.id, $4, $5 FROM applications a JOIN contracts c ON c.id = a.contract_id \
             WHERE a.id = $2 AND a.account_id = $3 AND a.status = 'completed' AND c.ends_at > $5",
        )
        .bind(kid)
        .bind(application_id)
        .bind(account_id)
        .bind(sealed_key)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(account_id),
                "acme.eab.created",
                format!("application:{application_id}"),
                serde_json::json!({ "kid": kid }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The latest 完了 record holding a certificate of the contract with this code, and
    /// its account: (application id, account id).
    pub async fn contract_record(&self, code: &str) -> Result<Option<(i64, i64)>> {
        let sql = format!(
            "SELECT a.id, a.account_id FROM applications a JOIN contracts c ON c.id = a.contract_id \
             WHERE c.code = $1 AND a.status = 'completed' AND a.kind IN {PORTAL_CERT_KINDS} ORDER BY a.id DESC LIMIT 1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(code)
            .fetch_optional(self.reader())
            .await?)
    }

    /// The credential `kid`.
    pub async fn eab(&self, kid: &str) -> Result<Option<EabCredential>> {
        let sql = format!(
            "SELECT {EAB_COLS} FROM acme_eab e JOIN contracts c ON c.id = e.contract_id WHERE e.kid = $1"
        );
        sqlx::query(&sql)
            .bind(kid)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(eab_of)
            .transpose()
    }

    /// The credentials of the contract of `application_id` (the account's), newest first.
    pub async fn eabs_of_contract(
        &self,
        account_id: i64,
        application_id: i64,
    ) -> Result<Vec<EabCredential>> {
        let sql = format!(
            "SELECT {EAB_COLS} FROM acme_eab e JOIN contracts c ON c.id = e.contract_id \
             WHERE e.account_id = $1 AND e.contract_id = (SELECT contract_id FROM applications WHERE id = $2) \
             ORDER BY e.created_at DESC, e.kid"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .bind(application_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(eab_of).collect()
    }

    /// Every credential of a customer account with its contract's code, newest first
    /// (the desk's account page).
    pub async fn eabs_of_account(&self, account_id: i64) -> Result<Vec<(EabCredential, String)>> {
        let sql = format!(
            "SELECT {EAB_COLS}, c.code FROM acme_eab e JOIN contracts c ON c.id = e.contract_id \
             WHERE e.account_id = $1 ORDER BY e.created_at DESC, e.kid"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    eab_of(r)?,
                    r.try_get::<Option<String>, _>("code")?.unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Disables a credential (and so the ACME account bound with it), with its audit
    /// event. Returns whether it was enabled before.
    pub async fn disable_eab(&self, kid: &str, actor: Actor, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE acme_eab SET disabled_at = $2 WHERE kid = $1 AND disabled_at IS NULL",
        )
        .bind(kid)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    actor,
                    "acme.eab.disabled",
                    format!("eab:{kid}"),
                    serde_json::json!({}),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Stores a new ACME account bound with its credential, with its audit event.
    /// `Conflict("kid")` if the credential already binds an account; `Conflict("key")`
    /// if the key already has an account.
    pub async fn create_acme_account(
        &self,
        a: &NewAcmeAccount,
        eab: &EabCredential,
        now: Ts,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let taken: Option<(String, String)> = sqlx::query_as(
            "SELECT eab_kid, thumbprint FROM acme_accounts WHERE eab_kid = $1 OR thumbprint = $2",
        )
        .bind(&a.eab_kid)
        .bind(&a.thumbprint)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((kid, _)) = taken {
            return Err(StoreError::Conflict(if kid == a.eab_kid {
                "kid".into()
            } else {
                "key".into()
            }));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO acme_accounts (thumbprint, jwk, eab_kid, account_id, contract_id, contact, status, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'valid', $7, $7) RETURNING id",
        )
        .bind(&a.thumbprint)
        .bind(&a.jwk)
        .bind(&a.eab_kid)
        .bind(eab.account_id)
        .bind(eab.contract_id)
        .bind(&a.contact)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Customer(eab.account_id),
                "acme.account.created",
                format!("application:{}", eab.application_id),
                serde_json::json!({ "acme_account": id, "kid": a.eab_kid, "thumbprint": a.thumbprint }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The ACME account whose key has this thumbprint.
    pub async fn acme_account_by_thumbprint(
        &self,
        thumbprint: &str,
    ) -> Result<Option<AcmeAccount>> {
        let sql = format!("SELECT {ACCOUNT_COLS} WHERE a.thumbprint = $1");
        sqlx::query(&sql)
            .bind(thumbprint)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
    }

    /// The ACME account `id`.
    pub async fn acme_account(&self, id: i64) -> Result<Option<AcmeAccount>> {
        let sql = format!("SELECT {ACCOUNT_COLS} WHERE a.id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
    }

    /// Changes an ACME account: its contact, its status (`deactivated`, by the client),
    /// or its key (rollover: `Conflict("key")` if the new key has an account); with the
    /// audit event `action`. Returns whether the account was valid and changed.
    pub async fn update_acme_account(
        &self,
        id: i64,
        change: &AcmeChange,
        actor: Actor,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let (q, action, detail) = match change {
            AcmeChange::Contact(c) => (
                sqlx::query("UPDATE acme_accounts SET contact = $2, last_used_at = $3 WHERE id = $1 AND status = 'valid'")
                    .bind(id)
                    .bind(c.clone())
                    .bind(now),
                "acme.account.updated",
                serde_json::json!({ "contact": c }),
            ),
            AcmeChange::Deactivate => (
                sqlx::query("UPDATE acme_accounts SET status = 'deactivated', last_used_at = $2 WHERE id = $1 AND status = 'valid'")
                    .bind(id)
                    .bind(now),
                "acme.account.deactivated",
                serde_json::json!({}),
            ),
            AcmeChange::Key { thumbprint, jwk } => {
                let taken: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM acme_accounts WHERE thumbprint = $1")
                        .bind(thumbprint)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict("key".into()));
                }
                (
                    sqlx::query("UPDATE acme_accounts SET thumbprint = $2, jwk = $3, last_used_at = $4 WHERE id = $1 AND status = 'valid'")
                        .bind(id)
                        .bind(thumbprint.clone())
                        .bind(jwk.clone())
                        .bind(now),
                    "acme.account.key_changed",
                    serde_json::json!({ "thumbprint": thumbprint }),
                )
            }
        };
        let n = q.execute(&mut *tx).await?.rows_affected();
        if n != 1 {
            return Ok(false);
        }
        append(
            &mut tx,
            &AuditEvent::new(now, actor, action, format!("acme-account:{id}"), detail),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Pulls the renewal window of the certificates issued before `now` into the past:
    /// of the contract with `code`, or of every contract (`None`); with its audit event.
    /// False if no contract has that code.
    pub async fn ari_pull_in(&self, code: Option<&str>, actor: Actor, now: Ts) -> Result<bool> {
        let mut tx = self.begin().await?;
        let contract: Option<i64> = match code {
            Some(c) => {
                let id: Option<(i64,)> = sqlx::query_as("SELECT id FROM contracts WHERE code = $1")
                    .bind(c)
                    .fetch_optional(&mut *tx)
                    .await?;
                match id {
                    Some((id,)) => Some(id),
                    None => return Ok(false),
                }
            }
            None => None,
        };
        sqlx::query(
            "INSERT INTO ari_pull_ins (contract_id, issued_before, created_at) VALUES ($1, $2, $2)",
        )
        .bind(contract)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "acme.ari.pull_in",
                code.map_or_else(|| "ca:server".to_owned(), |c| format!("contract:{c}")),
                serde_json::json!({ "issued_before": now }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether a pull-in covers a certificate of the application's contract issued at
    /// `not_before`.
    pub async fn ari_pulled_in(&self, application_id: i64, not_before: Ts) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ari_pull_ins p WHERE p.issued_before >= $2 \
             AND (p.contract_id IS NULL OR p.contract_id = (SELECT contract_id FROM applications WHERE id = $1))",
        )
        .bind(application_id)
        .bind(not_before)
        .fetch_one(self.reader())
        .await?;
        Ok(n > 0)
    }

    /// Records uses of ACME nonces, each `(nonce, expires_at)`, in one transaction:
    /// true for each nonce used here for the first time, false for one used before
    /// (on any instance, or earlier in the same group).
    pub async fn use_nonces(&self, uses: &[(String, Ts)]) -> Result<Vec<bool>> {
        // One statement for the group; a nonce twice in it counts for its first caller.
        let mut first: Vec<bool> = Vec::with_capacity(uses.len());
        let mut distinct: Vec<&(String, Ts)> = Vec::with_capacity(uses.len());
        let mut seen = std::collections::HashSet::new();
        for u in uses {
            let new = seen.insert(u.0.as_str());
            first.push(new);
            if new {
                distinct.push(u);
            }
        }
        if distinct.is_empty() {
            return Ok(first);
        }
        let sql = format!(
            "INSERT INTO acme_used_nonces (nonce, expires_at) VALUES {} ON CONFLICT (nonce) DO NOTHING RETURNING nonce",
            crate::sql::placeholders(distinct.len(), 2, 0)
        );
        let mut args = Vec::with_capacity(distinct.len() * 2);
        for (nonce, expires_at) in &distinct {
            args.extend([nonce.clone().into(), (*expires_at).into()]);
        }
        let inserted: std::collections::HashSet<String> = self
            .write(NonceUses { sql, args })
            .await?
            .into_iter()
            .collect();
        Ok(uses
            .iter()
            .zip(first)
            .map(|((nonce, _), first)| first && inserted.contains(nonce))
            .collect())
    }

    /// Forgets used nonces that have expired (they can no longer be presented);
    /// returns how many.
    pub async fn purge_used_nonces(&self, now: Ts) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at <= $1")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

/// [`Store::use_nonces`]' work: one statement.
struct NonceUses {
    sql: String,
    args: Vec<crate::exec::Val>,
}

impl crate::exec::Work for NonceUses {
    type Out = Vec<String>;
    async fn run<E: crate::exec::Exec>(self, tx: &mut E) -> Result<Vec<String>> {
        tx.rows(&self.sql, self.args)
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect()
    }
}
