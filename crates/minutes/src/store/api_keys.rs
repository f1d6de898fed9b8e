//! API keys (hashed, scoped, expiring, revocable) and just-in-time rows for identity-provider users.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{on_pool, scoped, scoped_tx, Scope, SqlStore};
use super::{StoreError, StoreResult, User};

/// An API key row; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub name: String,
    pub secret_hash: String,
    /// Space-separated: `read`, `write`.
    pub scopes: String,
    /// The creator's role when the key was made; a key never acts above its user's current role.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key with what authentication needs to know about its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyAuth {
    #[sqlx(flatten)]
    pub key: ApiKeyRecord,
    pub user_role: String,
    pub user_active: bool,
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// A key by id with its user's role and state (for authentication; no tenant known yet).
    async fn api_key_for_auth(&self, key_id: &str) -> StoreResult<Option<ApiKeyAuth>>;
    /// Keys of the tenant, newest first; only `user_id`'s when given.
    async fn list_api_keys(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key of the tenant (of `user_id` when given); `NotFound` otherwise. Revoking
    /// twice keeps the first time.
    async fn revoke_api_key(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn touch_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Creates or refreshes the tenant and user rows of an identity-provider user. A user id
    /// that already belongs to another tenant is a `Conflict`: one identity, one tenant.
    async fn provision_user(&self, tenant_id: &str, user_id: &str, role: &str)
        -> StoreResult<User>;
}

const COLUMNS: &str = "k.id, k.tenant_id, k.user_id, k.name, k.secret_hash, k.scopes, k.role, \
                       k.created_at, k.expires_at, k.revoked_at, k.last_used_at";

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(&k.tenant_id), tx => sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, user_id, name, secret_hash, scopes, role, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&k.id).bind(&k.tenant_id).bind(&k.user_id).bind(&k.name).bind(&k.secret_hash)
            .bind(&k.scopes).bind(&k.role).bind(k.created_at).bind(k.expires_at)
            .execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn api_key_for_auth(&self, key_id: &str) -> StoreResult<Option<ApiKeyAuth>> {
        let sql = format!(
            "SELECT {COLUMNS}, u.role AS user_role, u.is_active AS user_active \
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1"
        );
        // Cross-tenant: the key names its tenant only once it is found.
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::System, tx => sqlx::query_as::<_, ApiKeyAuth>(&sql)
            .bind(key_id).fetch_optional(&mut *tx).await?)),
        )
    }

    async fn list_api_keys(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND ($2 IS NULL OR k.user_id = $2) \
             ORDER BY k.created_at DESC, k.id"
        );
        Ok(
            on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query_as::<_, ApiKeyRecord>(&sql)
            .bind(tenant_id).bind(user_id).fetch_all(&mut *tx).await?)),
        )
    }

    async fn revoke_api_key(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let rows = on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $4) \
             WHERE id = $1 AND tenant_id = $2 AND ($3 IS NULL OR user_id = $3)")
            .bind(key_id).bind(tenant_id).bind(user_id).bind(at)
            .execute(&mut *tx).await?.rows_affected()));
        if rows == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn touch_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => scoped!(pool, Scope::Tenant(tenant_id), tx => sqlx::query(
            "UPDATE api_keys SET last_used_at = $3 WHERE id = $1 AND tenant_id = $2")
            .bind(key_id).bind(tenant_id).bind(at).execute(&mut *tx).await.map(|_| ())?));
        Ok(())
    }

    async fn provision_user(
        &self,
        tenant_id: &str,
        user_id: &str,
        role: &str,
    ) -> StoreResult<User> {
        let now = Utc::now();
        // `idp:` cannot occur in dev-login usernames, so the unique username never collides.
        let username = format!("idp:{user_id}");
        let user = on_pool!(self, pool => {
            // Cross-tenant: it must see a user id that already belongs to another tenant.
            let mut tx = scoped_tx!(pool, Scope::System);
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(tenant_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO users (id, tenant_id, username, role, is_active, created_at, updated_at, last_login_at) \
                 VALUES ($1, $2, $3, $4, TRUE, $5, $5, $5) \
                 ON CONFLICT (id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at, \
                 last_login_at = excluded.last_login_at WHERE users.tenant_id = excluded.tenant_id")
                .bind(user_id).bind(tenant_id).bind(&username).bind(role).bind(now)
                .execute(&mut *tx).await?;
            let user = sqlx::query_as::<_, User>(
                "SELECT id, tenant_id, username, role, is_active FROM users WHERE id = $1")
                .bind(user_id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            user
        });
        if user.tenant_id != tenant_id {
            return Err(StoreError::Conflict(format!(
                "user {user_id} belongs to another tenant"
            )));
        }
        Ok(user)
    }
}
