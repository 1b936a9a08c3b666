//! Customer accounts and staff members: who may log in, with which certificate.

use crate::audit::{AuditEvent, append};
use crate::{Result, Store, StoreError, Ts, flag};
use shomei_model::Actor;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Which login realm: the portal's customers or the desk's staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    /// Customers on the portal.
    Customer,
    /// Staff at the desk.
    Staff,
}

impl Realm {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Realm::Customer => "accounts",
            Realm::Staff => "staff",
        }
    }
    /// `customer` or `staff`: also the audit actor prefix.
    pub fn code(self) -> &'static str {
        match self {
            Realm::Customer => "customer",
            Realm::Staff => "staff",
        }
    }
    /// The audit actor of principal `id` of this realm.
    pub fn actor(self, id: i64) -> shomei_model::Actor {
        match self {
            Realm::Customer => shomei_model::Actor::Customer(id),
            Realm::Staff => shomei_model::Actor::Staff(id),
        }
    }
    /// Parses [`Realm::code`].
    pub fn from_code(s: &str) -> Option<Realm> {
        match s {
            "customer" => Some(Realm::Customer),
            "staff" => Some(Realm::Staff),
            _ => None,
        }
    }
}

/// The login factors and state shared by accounts and staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the password is an initial one that must be changed (R-L3).
    pub password_initial: bool,
    /// When an initial password stops working.
    pub password_expires_at: Option<Ts>,
    /// Bound login certificate: serial (hex), R-L2.
    pub cert_serial: Option<String>,
    /// Bound login certificate: subject DN, R-L2.
    pub cert_subject: Option<String>,
    /// Bound login certificate: SHA-256 fingerprint.
    pub cert_fingerprint: Option<String>,
    /// Failed logins in a row.
    pub failed_logins: i64,
    /// Locked after too many failures (R-L4).
    pub locked: bool,
    /// Disabled by staff.
    pub disabled: bool,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: i64,
    /// アクセスキー: 8 characters.
    pub access_key: String,
    /// Organisation name.
    pub org_name: String,
    /// Contact e-mail.
    pub email: String,
    /// 特約店コード.
    pub dealer_code: Option<String>,
    /// Login factors.
    pub creds: Credentials,
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// Id.
    pub id: i64,
    /// Login name.
    pub login: String,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Login factors.
    pub creds: Credentials,
}

/// A principal to create.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    /// Access key (customers) or login (staff).
    pub login: String,
    /// Organisation (customers) or name (staff).
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Dealer code (customers only).
    pub dealer_code: Option<String>,
    /// Initial password hash.
    pub password_hash: String,
    /// When the initial password expires.
    pub password_expires_at: Ts,
    /// Bound certificate serial (hex).
    pub cert_serial: String,
    /// Bound certificate subject.
    pub cert_subject: String,
    /// Bound certificate fingerprint.
    pub cert_fingerprint: String,
}

fn creds_of(r: &AnyRow) -> Result<Credentials> {
    Ok(Credentials {
        password_hash: r.try_get("password_hash")?,
        password_initial: flag(r.try_get("password_initial")?),
        password_expires_at: r.try_get("password_expires_at")?,
        cert_serial: r.try_get("cert_serial")?,
        cert_subject: r.try_get("cert_subject")?,
        cert_fingerprint: r.try_get("cert_fingerprint")?,
        failed_logins: r.try_get("failed_logins")?,
        locked: flag(r.try_get("locked")?),
        disabled: flag(r.try_get("disabled")?),
    })
}

const CRED_COLS: &str = "password_hash, password_initial, password_expires_at, cert_serial, cert_subject, cert_fingerprint, failed_logins, locked, disabled";

fn account_of(r: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        access_key: r.try_get("access_key")?,
        org_name: r.try_get("org_name")?,
        email: r.try_get("email")?,
        dealer_code: r.try_get("dealer_code")?,
        creds: creds_of(r)?,
    })
}

fn staff_of(r: &AnyRow) -> Result<StaffMember> {
    Ok(StaffMember {
        id: r.try_get("id")?,
        login: r.try_get("login")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
        creds: creds_of(r)?,
    })
}

impl Store {
    /// The access key of a customer account with this organisation and e-mail created
    /// since `since`, if any (issue #8 item 6: a repeated press at the desk).
    pub async fn recent_account_like(
        &self,
        org: &str,
        email: &str,
        since: Ts,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT access_key FROM accounts WHERE org_name = $1 AND email = $2 AND created_at >= $3 ORDER BY id DESC LIMIT 1")
            .bind(org)
            .bind(email)
            .bind(since)
            .fetch_optional(self.reader())
            .await?)
    }

    /// Creates a customer account or staff member with its audit event. A taken access
    /// key or login gives [`StoreError::Conflict`].
    pub async fn create_principal(
        &self,
        realm: Realm,
        p: &NewPrincipal,
        actor: Actor,
        now: Ts,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let q = match realm {
            Realm::Customer => sqlx::query(
                "INSERT INTO accounts (access_key, org_name, email, dealer_code, password_hash, password_initial, password_expires_at, cert_serial, cert_subject, cert_fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(&p.login)
            .bind(&p.name)
            .bind(&p.email)
            .bind(&p.dealer_code),
            Realm::Staff => sqlx::query(
                "INSERT INTO staff (login, name, email, password_hash, password_initial, password_expires_at, cert_serial, cert_subject, cert_fingerprint, created_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&p.login)
            .bind(&p.name)
            .bind(&p.email),
        };
        let row = q
            .bind(&p.password_hash)
            .bind(p.password_expires_at)
            .bind(&p.cert_serial)
            .bind(&p.cert_subject)
            .bind(&p.cert_fingerprint)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Conflict(p.login.clone())
                }
                _ => StoreError::Db(e),
            })?;
        let id: i64 = row.try_get("id")?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                &format!("{}.created", realm.code()),
                format!("{}:{id}", realm.code()),
                serde_json::json!({
                    "login": p.login, "cert_serial": p.cert_serial, "cert_subject": p.cert_subject,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The account with this access key.
    pub async fn account_by_access_key(&self, key: &str) -> Result<Option<Account>> {
        let sql = format!(
            "SELECT id, access_key, org_name, email, dealer_code, {CRED_COLS} FROM accounts WHERE access_key = $1"
        );
        sqlx::query(&sql)
            .bind(key)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
    }

    /// The account with this id.
    pub async fn account(&self, id: i64) -> Result<Option<Account>> {
        let sql = format!(
            "SELECT id, access_key, org_name, email, dealer_code, {CRED_COLS} FROM accounts WHERE id = $1"
        );
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
    }

    /// The staff member with this login.
    pub async fn staff_by_login(&self, login: &str) -> Result<Option<StaffMember>> {
        let sql = format!("SELECT id, login, name, email, {CRED_COLS} FROM staff WHERE login = $1");
        sqlx::query(&sql)
            .bind(login)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(staff_of)
            .transpose()
    }

    /// The staff member with this id.
    pub async fn staff(&self, id: i64) -> Result<Option<StaffMember>> {
        let sql = format!("SELECT id, login, name, email, {CRED_COLS} FROM staff WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(staff_of)
            .transpose()
    }

    /// The credentials of a principal of either realm.
    pub async fn credentials(&self, realm: Realm, id: i64) -> Result<Option<Credentials>> {
        let sql = format!("SELECT {CRED_COLS} FROM {} WHERE id = $1", realm.table());
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(creds_of)
            .transpose()
    }

    /// Records a successful login: resets the failure counter, audits.
    pub async fn login_succeeded(
        &self,
        realm: Realm,
        id: i64,
        detail: serde_json::Value,
        now: Ts,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "UPDATE {} SET failed_logins = 0 WHERE id = $1",
            realm.table()
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                realm.actor(id),
                "login.success",
                format!("{}:{id}", realm.code()),
                detail,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed login against a known principal: counts it, locks the principal
    /// at `lock_after` failures in a row (R-L4), audits. Returns whether it is now locked.
    pub async fn login_failed(
        &self,
        realm: Realm,
        id: i64,
        lock_after: i64,
        detail: serde_json::Value,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE {} SET failed_logins = failed_logins + 1, locked = CASE WHEN failed_logins + 1 >= $2 THEN 1 ELSE locked END WHERE id = $1 RETURNING locked",
            realm.table()
        ))
        .bind(id)
        .bind(lock_after)
        .fetch_one(&mut *tx)
        .await?;
        let locked = flag(row.try_get("locked")?);
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                Actor::Anonymous,
                "login.failure",
                format!("{}:{id}", realm.code()),
                detail,
            ),
        )
        .await?;
        if locked {
            append(
                &mut tx,
                &AuditEvent::new(
                    now,
                    Actor::System,
                    "account.locked",
                    format!("{}:{id}", realm.code()),
                    serde_json::json!({}),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(locked)
    }

    /// Sets a new (non-initial) password chosen by the principal, audits.
    pub async fn set_password(&self, realm: Realm, id: i64, hash: &str, now: Ts) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!("UPDATE {} SET password_hash = $2, password_initial = 0, password_expires_at = NULL WHERE id = $1", realm.table()))
            .bind(id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                realm.actor(id),
                "password.changed",
                format!("{}:{id}", realm.code()),
                serde_json::json!({}),
            ),
        )
        .await?;
        // Every other session of this principal ends with the old password.
        tx.commit().await?;
        Ok(())
    }

    /// Staff set a new initial password (R-L4 unlock): the principal must change it at
    /// the next login; the failure count and the lock are cleared and every session
    /// ends, in one transaction with the audit event. Returns false if there is no such
    /// principal.
    pub async fn reset_initial_password(
        &self,
        realm: Realm,
        id: i64,
        hash: &str,
        expires_at: Ts,
        actor: Actor,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(&format!("UPDATE {} SET password_hash = $2, password_initial = 1, password_expires_at = $3, failed_logins = 0, locked = 0 WHERE id = $1", realm.table()))
            .bind(id)
            .bind(hash)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        crate::sessions::end_sessions(&mut tx, realm, id).await?;
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                "password.reset",
                format!("{}:{id}", realm.code()),
                serde_json::json!({ "expires_at": expires_at }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Staff disable (or enable again) a principal; disabling ends its sessions at once.
    pub async fn set_disabled(
        &self,
        realm: Realm,
        id: i64,
        disabled: bool,
        actor: Actor,
        now: Ts,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(&format!(
            "UPDATE {} SET disabled = $2 WHERE id = $1",
            realm.table()
        ))
        .bind(id)
        .bind(i64::from(disabled))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        if disabled {
            crate::sessions::end_sessions(&mut tx, realm, id).await?;
        }
        append(
            &mut tx,
            &AuditEvent::new(
                now,
                actor,
                if disabled {
                    "account.disabled"
                } else {
                    "account.enabled"
                },
                format!("{}:{id}", realm.code()),
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Customer accounts whose access key, organisation or e-mail contains `text`
    /// (all when empty), newest first.
    pub async fn find_accounts(&self, text: &str, limit: i64) -> Result<Vec<Account>> {
        let pattern = format!(
            "%{}%",
            text.trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(&format!(
            "SELECT id, access_key, org_name, email, dealer_code, {CRED_COLS} FROM accounts WHERE access_key LIKE $1 ESCAPE '\\' OR org_name LIKE $1 ESCAPE '\\' OR email LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2"
        ))
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(account_of).collect()
    }
}
