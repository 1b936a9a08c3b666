//! ACME orders, authorizations and challenges (issue #10, RFC 8555 7.1.3–7.1.5, 7.4,
//! 7.5) and the ACME 発行 record an order's finalize makes for `Ra::issue`; the domain
//! checks themselves are in `domain_checks`.

use crate::applications::Validation;
use crate::audit::{AuditEvent, append};
use crate::domain_checks::{NewDomainCheck, insert_check};
use crate::{Result, Store, StoreError, Ts};
use shomei_model::{Actor, details::ApplicationDetails};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeOrder {
    /// Its id (in its URL).
    pub id: i64,
    /// The ACME account that made it.
    pub acme_account_id: i64,
    /// The customer account.
    pub account_id: i64,
    /// The contract.
    pub contract_id: i64,
    /// `pending`, `ready`, `processing`, `valid` or `invalid`, as stored.
    pub status: String,
    /// The DNS names asked for (`*.` for a wildcard).
    pub identifiers: Vec<String>,
    /// The problem that made it invalid (JSON), if any.
    pub error: Option<String>,
    /// The ACME 発行 record made at finalize.
    pub application_id: Option<i64>,
    /// The certificate it replaces (RFC 9773 `replaces`), if any.
    pub replaces: Option<String>,
    /// When it expires if not finalized.
    pub expires_at: Ts,
    /// When it was made.
    pub created_at: Ts,
}

/// An authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeAuthz {
    /// Its id.
    pub id: i64,
    /// Its order.
    pub order_id: i64,
    /// The domain, without a wildcard label.
    pub domain: String,
    /// Whether the order names `*.domain`.
    pub wildcard: bool,
    /// `pending`, `valid`, `invalid` or `deactivated`, as stored.
    pub status: String,
    /// When it expires.
    pub expires_at: Ts,
    /// When the domain was validated.
    pub validated_at: Option<Ts>,
    /// The method that validated it.
    pub method: Option<String>,
}

/// A challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeChallenge {
    /// Its id.
    pub id: i64,
    /// Its authorization.
    pub authz_id: i64,
    /// `http-01`, `dns-01` or `tls-alpn-01`.
    pub kind: String,
    /// The token.
    pub token: String,
    /// `pending`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// When it was validated.
    pub validated_at: Option<Ts>,
    /// The problem (JSON), if it failed.
    pub error: Option<String>,
}

/// An authorization to make with an order.
#[derive(Debug, Clone)]
pub struct NewAuthz {
    /// The domain, without a wildcard label.
    pub domain: String,
    /// Whether the order names `*.domain`.
    pub wildcard: bool,
    /// A passed check of the domain young enough to reuse (method, time): the
    /// authorization is valid from the start.
    pub reused: Option<(String, Ts)>,
    /// Its challenges (type, token); none when reused.
    pub challenges: Vec<(String, String)>,
}

/// An order to make.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The ACME account.
    pub acme_account_id: i64,
    /// The customer account.
    pub account_id: i64,
    /// The contract.
    pub contract_id: i64,
    /// The names, as asked.
    pub identifiers: Vec<String>,
    /// RFC 9773 `replaces`.
    pub replaces: Option<String>,
    /// When it expires.
    pub expires_at: Ts,
    /// Its authorizations.
    pub authzs: Vec<NewAuthz>,
}

/// The ACME 発行 record a finalize makes: the CSR the client sent, the contract's
/// validated data, and the validations it rests on.
#[derive(Debug, Clone)]
pub struct NewAcmeRecord {
    /// The order.
    pub order_id: i64,
    /// The contract's latest record (the predecessor in the lineage).
    pub target_id: i64,
    /// The CSR, PEM.
    pub csr_pem: String,
    /// Its names.
    pub names: Vec<String>,
    /// Its key's SHA-256.
    pub spki_sha256: String,
    /// "RSA 2048", "ECDSA P-256".
    pub key_desc: String,
    /// The contract's validated data.
    pub details: ApplicationDetails,
    /// The organisation (and EV) validations reused, with their staff; the domain
    /// validations of the order's authorizations (no staff).
    pub validations: Vec<(Validation, Option<i64>)>,
}

const ORDER_COLS: &str = "id, acme_account_id, account_id, contract_id, status, identifiers, error, application_id, replaces, expires_at, created_at";
const AUTHZ_COLS: &str = "id, order_id, domain, wildcard, status, expires_at, validated_at, method";
const CHALLENGE_COLS: &str = "id, authz_id, type, token, status, validated_at, error";

fn order_of(r: &AnyRow) -> Result<AcmeOrder> {
    let ids: String = r.try_get("identifiers")?;
    Ok(AcmeOrder {
        id: r.try_get("id")?,
        acme_account_id: r.try_get("acme_account_id")?,
        account_id: r.try_get("account_id")?,
        contract_id: r.try_get("contract_id")?,
        status: r.try_get("status")?,
        identifiers: serde_json::from_str(&ids).map_err(StoreError::corrupt)?,
        error: r.try_get("error")?,
        application_id: r.try_get("application_id")?,
        replaces: r.try_get("replaces")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

fn authz_of(r: &AnyRow) -> Result<AcmeAuthz> {
    Ok(AcmeAuthz {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        domain: r.try_get("domain")?,
        wildcard: r.try_get::<i64, _>("wildcard")? != 0,
        status: r.try_get("status")?,
        expires_at: r.try_get("expires_at")?,
        validated_at: r.try_get("validated_at")?,
        method: r.try_get("method")?,
    })
}

fn challenge_of(r: &AnyRow) -> Result<AcmeChallenge> {
    Ok(AcmeChallenge {
        id: r.try_get("id")?,
        authz_id: r.try_get("authz_id")?,
        kind: r.try_get("type")?,
        token: r.try_get("token")?,
        status: r.try_get("status")?,
        validated_at: r.try_get("validated_at")?,
        error: r.try_get("error")?,
    })
}

impl Store {
    /// Makes an order with its authorizations and challenges, audited, in one
    /// transaction. Reused authorizations are valid at once; an order whose every
    /// authorization is valid is `ready`.
    pub async fn create_order(&self, o: &NewOrder, now: Ts) -> Result<i64> {
        let mut tx = self.begin().await?;
        let ready = o.authzs.iter().all(|a| a.reused.is_some());
        let status = if ready { "ready" } else { "pending" };
        let ids = serde_json::to_string(&o.identifiers).map_err(StoreError::corrupt)?;
        let order_id: i64 = sqlx::query_scalar(
            "INSERT INTO acme_orders (acme_account_id, account_id, contract_id, status, identifiers, replaces, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(o.acme_account_id)
        .bind(o.account_id)
        .bind(o.contract_id)
        .bind(status)
        .bind(ids)
        .bind(&o.replaces)
        .bind(o.expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE acme_accounts SET last_used_at = $2 WHERE id = $1")
            .bind(o.acme_account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for a in &o.authzs {
            let (st, at, method) = match &a.reused {
                Some((m, at)) => ("valid", Some(*at), Some(m.clone())),
                None => ("pending", None, None),
            };
            let authz_id: i64 = sqlx::query_scalar(
                "INSERT INTO acme_authzs (order_id, domain, wildcard, status, expires_at, validated_at, method) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(order_id)
            .bind(&a.domain)
            .bind(i64::from(a.wildcard))
            .bind(st)
            .bind(o.expires_at)
            .bind(at)
            .bind(method)
            .fetch_one(&mut *tx)
            .await?;
            for (kind, token) in &a.challenges {
                sqlx::query("INSERT INTO acme_challenges (authz_id, type, token, status) VALUES ($1, $2, $3, 'pending')")
                    .bind(authz_id)
                    .bind(kind)
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Acme(o.acme_account_id),
                "acme.order.created",
                format!("acme-order:{order_id}"),
                serde_json::json!({ "identifiers": o.identifiers, "contract_id": o.contract_id, "status": status }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(order_id)
    }

    /// The order `id`.
    pub async fn acme_order(&self, id: i64) -> Result<Option<AcmeOrder>> {
        let sql = format!("SELECT {ORDER_COLS} FROM acme_orders WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(order_of)
            .transpose()
    }

    /// The orders of an ACME account, newest first (at most `limit`).
    pub async fn acme_orders_of(&self, acme_account_id: i64, limit: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM acme_orders WHERE acme_account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(acme_account_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// How many orders the ACME account, and its contract, made since `since`.
    pub async fn acme_orders_since(&self, acme_account_id: i64, since: Ts) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM acme_orders WHERE acme_account_id = $1 AND created_at >= $2) AS mine, (SELECT COUNT(*) FROM acme_orders WHERE contract_id = (SELECT contract_id FROM acme_accounts WHERE id = $1) AND created_at >= $2) AS contract")
            .bind(acme_account_id)
            .bind(since)
            .fetch_one(self.reader())
            .await?;
        Ok((row.try_get("mine")?, row.try_get("contract")?))
    }

    /// The authorizations of an order, in the order they were made.
    pub async fn order_authzs(&self, order_id: i64) -> Result<Vec<AcmeAuthz>> {
        let sql = format!("SELECT {AUTHZ_COLS} FROM acme_authzs WHERE order_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(order_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(authz_of).collect()
    }

    /// The authorization `id`.
    pub async fn acme_authz(&self, id: i64) -> Result<Option<AcmeAuthz>> {
        let sql = format!("SELECT {AUTHZ_COLS} FROM acme_authzs WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(authz_of)
            .transpose()
    }

    /// The challenges of an authorization.
    pub async fn authz_challenges(&self, authz_id: i64) -> Result<Vec<AcmeChallenge>> {
        let sql =
            format!("SELECT {CHALLENGE_COLS} FROM acme_challenges WHERE authz_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(authz_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(challenge_of).collect()
    }

    /// The challenge `id`.
    pub async fn acme_challenge(&self, id: i64) -> Result<Option<AcmeChallenge>> {
        let sql = format!("SELECT {CHALLENGE_COLS} FROM acme_challenges WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(challenge_of)
            .transpose()
    }

    /// Marks a pending challenge `processing` (so that a second request does not check
    /// again). False if it was not pending.
    pub async fn start_challenge(&self, id: i64) -> Result<bool> {
        let n = sqlx::query("UPDATE acme_challenges SET status = 'processing' WHERE id = $1 AND status = 'pending' AND authz_id IN (SELECT id FROM acme_authzs WHERE status = 'pending')")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records a challenge's result in one transaction: the challenge, its
    /// authorization (valid, or invalid: RFC 8555 7.1.6), the order (ready when every
    /// authorization is valid; invalid when one is invalid), the domain check on the
    /// contract, and the audit event.
    pub async fn finish_challenge(
        &self,
        challenge: &AcmeChallenge,
        authz: &AcmeAuthz,
        check: &NewDomainCheck,
        error: Option<&str>,
        now: Ts,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let status = if check.passed { "valid" } else { "invalid" };
        sqlx::query(
            "UPDATE acme_challenges SET status = $2, validated_at = $3, error = $4 WHERE id = $1",
        )
        .bind(challenge.id)
        .bind(status)
        .bind(check.passed.then_some(now))
        .bind(error)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE acme_authzs SET status = $2, validated_at = $3, method = $4 WHERE id = $1 AND status = 'pending'")
            .bind(authz.id)
            .bind(status)
            .bind(check.passed.then_some(now))
            .bind(check.passed.then_some(check.method.as_str()))
            .execute(&mut *tx)
            .await?;
        if check.passed {
            sqlx::query("UPDATE acme_orders SET status = 'ready' WHERE id = $1 AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM acme_authzs WHERE order_id = $1 AND status <> 'valid')")
                .bind(authz.order_id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE acme_orders SET status = 'invalid', error = $2 WHERE id = $1 AND status IN ('pending', 'ready')")
                .bind(authz.order_id)
                .bind(error)
                .execute(&mut *tx)
                .await?;
        }
        insert_check(&mut tx, check, now).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                check
                    .acme_account_id
                    .map_or(Actor::System, Actor::Acme),
                if check.passed {
                    "acme.challenge.valid"
                } else {
                    "acme.challenge.invalid"
                },
                format!("acme-order:{}", authz.order_id),
                serde_json::json!({ "domain": check.domain, "method": check.method, "detail": check.detail, "perspectives": check.perspectives }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deactivates an authorization (RFC 8555 7.5.2); its order becomes invalid.
    pub async fn deactivate_authz(
        &self,
        authz: &AcmeAuthz,
        acme_account_id: i64,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE acme_authzs SET status = 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid')")
            .bind(authz.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 1 {
            sqlx::query("UPDATE acme_orders SET status = 'invalid' WHERE id = $1 AND status IN ('pending', 'ready')")
                .bind(authz.order_id)
                .execute(&mut *tx)
                .await?;
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    Actor::Acme(acme_account_id),
                    "acme.authz.deactivated",
                    format!("acme-order:{}", authz.order_id),
                    serde_json::json!({ "domain": authz.domain }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }
}

impl Store {
    /// The contract's record customers manage it from: its latest 完了 portal record.
    pub async fn contract_main_record(&self, contract_id: i64) -> Result<Option<i64>> {
        let sql = format!(
            "SELECT a.id FROM applications a WHERE a.contract_id = $1 AND a.status = 'completed' AND a.kind IN {} ORDER BY a.id DESC LIMIT 1",
            crate::sql::PORTAL_CERT_KINDS
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(contract_id)
            .fetch_optional(self.reader())
            .await?)
    }
}

impl Store {
    /// The contract's latest record holding an issued certificate (any issuing kind):
    /// the predecessor of its next ACME certificate.
    pub async fn contract_latest_certificate(&self, contract_id: i64) -> Result<Option<i64>> {
        let sql = format!(
            "SELECT a.id FROM applications a WHERE a.contract_id = $1 AND a.status = 'completed' AND a.kind IN {} ORDER BY a.id DESC LIMIT 1",
            crate::sql::CERT_KINDS
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(contract_id)
            .fetch_optional(self.reader())
            .await?)
    }

    /// The records that continue `id` (its successors in the lineage: renewals,
    /// reissues, switches, continuations, ACME certificates), oldest first: (id, kind).
    pub async fn successors(&self, id: i64) -> Result<Vec<(i64, String)>> {
        let sql = format!(
            "SELECT id, kind FROM applications WHERE target_id = $1 AND kind IN {} ORDER BY id LIMIT 50",
            crate::sql::CERT_KINDS
        );
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_all(self.reader())
            .await?)
    }
}
