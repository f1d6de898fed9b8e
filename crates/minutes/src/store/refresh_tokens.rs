//! Dev-login refresh tokens (hashed, rotating, one family per login) and their atomic rotation
//! with reuse detection.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::{StoreResult, User};

/// A token to store: its id and hash, never the token itself.
#[derive(Debug, Clone)]
pub struct RefreshTokenRow {
    pub id: String,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token is used up and the next one (same family) is stored in its place.
    Rotated { user: User, family_id: String },
    /// The token was used before: the whole family is revoked now.
    Reused {
        tenant_id: String,
        user_id: String,
        family_id: String,
    },
    /// Unknown, expired, revoked, or the user is disabled: nothing changed.
    Refused { reason: &'static str },
}

const INSERT: &str = "INSERT INTO refresh_tokens \
    (id, token_hash, family_id, tenant_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

#[derive(Debug, sqlx::FromRow)]
struct TokenRow {
    family_id: String,
    tenant_id: String,
    user_id: String,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores the first token of a new login (its id names the family) and drops the user's
    /// expired tokens.
    async fn insert_refresh_token(
        &self,
        tenant_id: &str,
        user_id: &str,
        token: &RefreshTokenRow,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The (tenant, user) a token hash belongs to, whatever its state (for rate limiting
    /// before the rotation; no tenant is known yet).
    async fn refresh_token_subject(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(String, String)>>;
    /// Uses up the token with `token_hash` and stores `next` in its family, in one transaction:
    /// of two concurrent calls with the same token exactly one rotates, the other finds it used.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next: &RefreshTokenRow,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation>;
}

#[async_trait]
impl RefreshTokenStore for SqlStore {
    async fn insert_refresh_token(
        &self,
        tenant_id: &str,
        user_id: &str,
        t: &RefreshTokenRow,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => {
            sqlx::query("DELETE FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 AND expires_at <= $3")
                .bind(tenant_id).bind(user_id).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query(INSERT)
                .bind(&t.id).bind(&t.token_hash).bind(&t.id).bind(tenant_id)
                .bind(user_id).bind(now).bind(t.expires_at)
                .execute(&mut *tx).await?;
        }));
        Ok(())
    }

    async fn refresh_token_subject(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(String, String)>> {
        // Cross-tenant: the token names its tenant only once it is found.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, (String, String)>(
            "SELECT tenant_id, user_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next: &RefreshTokenRow,
        now: DateTime<Utc>,
    ) -> StoreResult<Rotation> {
        Ok(on_pool!(self, pool => {
            // Cross-tenant: the tenant is known only from the row found by the hash.
            let mut tx = scoped_tx!(pool, Scope::System);
            // The conditional UPDATE comes first: it takes the row's write lock (SQLite: the
            // database's) before anything is read, so a concurrent call with the same token
            // waits and then finds it used, instead of both reading it unused.
            let used = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 \
                 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2")
                .bind(token_hash).bind(now).execute(&mut *tx).await?.rows_affected();
            let row = sqlx::query_as::<_, TokenRow>(
                "SELECT family_id, tenant_id, user_id, expires_at, used_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash).fetch_optional(&mut *tx).await?;
            let outcome = match row {
                None => Rotation::Refused { reason: "unknown refresh token" },
                Some(row) if used == 1 => {
                    let user = sqlx::query_as::<_, User>(
                        "SELECT id, tenant_id, username, role, is_active FROM users WHERE id = $1 AND tenant_id = $2")
                        .bind(&row.user_id).bind(&row.tenant_id).fetch_optional(&mut *tx).await?;
                    match user.filter(|u| u.is_active) {
                        // Dropping the transaction rolls the use back: the token stays as it was.
                        None => return Ok(Rotation::Refused { reason: "the user is disabled" }),
                        Some(user) => {
                            sqlx::query(INSERT)
                                .bind(&next.id).bind(&next.token_hash).bind(&row.family_id)
                                .bind(&row.tenant_id).bind(&row.user_id).bind(now)
                                .bind(next.expires_at).execute(&mut *tx).await?;
                            Rotation::Rotated { user, family_id: row.family_id }
                        }
                    }
                }
                Some(row) if row.revoked_at.is_some() => Rotation::Refused { reason: "refresh token revoked" },
                Some(row) if row.used_at.is_some() => {
                    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                        .bind(&row.family_id).bind(now).execute(&mut *tx).await?;
                    Rotation::Reused { tenant_id: row.tenant_id, user_id: row.user_id, family_id: row.family_id }
                }
                Some(row) if row.expires_at <= now => Rotation::Refused { reason: "refresh token expired" },
                Some(_) => Rotation::Refused { reason: "refresh token not usable" },
            };
            tx.commit().await?;
            outcome
        }))
    }
}
