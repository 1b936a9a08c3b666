//! What an issuance reads before it builds its certificate (docs/issuance-cycle.md
//! steps 0–1), in one statement: the application, whether its key has been blocked
//! since it was made, and the ends of the contracts its validity depends on.
//!
//! On SQLite the read can also run synchronously, on the thread of a job of the RA's
//! CPU pool (issue #11 item 4): the issuance's first job then reads, checks and lints
//! in one go, with no hand-over to a reader connection's thread and back.

use crate::applications::{APP_COLS, APP_FROM, Application, app_of};
use crate::exec::Cols;
use crate::{Result, Store, StoreError, Ts};

/// What an issuance reads first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRead {
    /// The application.
    pub app: Application,
    /// Whether its key has been blocked since (key compromise).
    pub key_blocked: bool,
    /// The end of the application's own contract, if it has one (a reissue, a 継続発行
    /// and an ACME 発行 stay within it).
    pub contract_ends_at: Option<Ts>,
    /// The end of its target's contract, if it has a target with one (a renewal's or a
    /// switch's term continues from it).
    pub target_contract_ends_at: Option<Ts>,
}

fn sql(param: &str) -> String {
    format!(
        "SELECT {APP_COLS}, \
         EXISTS (SELECT 1 FROM blocked_keys b WHERE b.spki_sha256 = a.spki_sha256) AS key_blocked, \
         c.ends_at AS contract_ends_at, \
         (SELECT tc.ends_at FROM applications t JOIN contracts tc ON tc.id = t.contract_id WHERE t.id = a.target_id) AS target_contract_ends_at \
         FROM {APP_FROM} WHERE a.id = {param}"
    )
}

fn read_of<R: Cols>(r: &R) -> Result<IssuanceRead> {
    // EXISTS is an integer on SQLite, a boolean on PostgreSQL.
    let key_blocked = match r.col::<bool>("key_blocked") {
        Ok(b) => b,
        Err(_) => r.col::<i64>("key_blocked")? != 0,
    };
    Ok(IssuanceRead {
        app: app_of(r)?,
        key_blocked,
        contract_ends_at: r.col("contract_ends_at")?,
        target_contract_ends_at: r.col("target_contract_ends_at")?,
    })
}

impl Store {
    /// Whether [`Store::issuance_read_now`] can read on the caller's thread (SQLite on
    /// a file); else use [`Store::issuance_read`].
    pub fn reads_in_place(&self) -> bool {
        self.lite_read.is_some()
    }

    /// What the issuance of application `id` reads first (`None`: no such application).
    pub async fn issuance_read(&self, id: i64) -> Result<Option<IssuanceRead>> {
        sqlx::query(&sql("$1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .as_ref()
            .map(read_of)
            .transpose()
    }

    /// [`Store::issuance_read`] on this thread, on a read-only connection of its own:
    /// for a blocking thread only (it waits for the disk). An error where
    /// [`Store::reads_in_place`] is false.
    pub fn issuance_read_now(&self, id: i64) -> Result<Option<IssuanceRead>> {
        let readers = self
            .lite_read
            .as_ref()
            .ok_or_else(|| StoreError::corrupt("no SQLite reader of its own"))?;
        readers.read(|conn| {
            let mut st = conn.prepare_cached(&sql("?1"))?;
            let mut rows = st.query([id])?;
            rows.next()?.map(read_of).transpose()
        })
    }
}
