//! Organisations, users and sign-in sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::organisation::{Organisation, Profession, Role, User};
use telederm_domain::{OrganisationId, UserId};

use crate::codec::{name, parse_name, parse_ts, ts, unique_violation, uuid};
use crate::{Result, Store, StoreError, WriteTx};

/// A session's user, found by the hash of its token.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl Store {
    pub async fn create_organisation(&self, org: &Organisation) -> Result<()> {
        let mut w = self.begin_write().await?;
        create_organisation_in(&mut w, org).await?;
        w.commit().await
    }

    /// [`Store::create_organisation`] with its audit entry, in one transaction.
    pub async fn create_organisation_audited(&self, org: &Organisation, audit: &crate::audit::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        create_organisation_in(&mut w, org).await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    pub async fn list_organisations(&self) -> Result<Vec<Organisation>> {
        let rows = sqlx::query("SELECT id, kind, ods_code, name FROM organisations ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let services = sqlx::query("SELECT organisation_id, service_id FROM provider_services ORDER BY service_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.get("id");
                Ok(Organisation {
                    id: uuid(&id)?,
                    kind: parse_name(r.get::<String, _>("kind").as_str())?,
                    ods_code: r.get("ods_code"),
                    name: r.get("name"),
                    services: services
                        .iter()
                        .filter(|s| s.get::<String, _>("organisation_id") == id)
                        .map(|s| s.get("service_id"))
                        .collect(),
                })
            })
            .collect()
    }

    pub async fn get_organisation(&self, id: OrganisationId) -> Result<Organisation> {
        self.list_organisations().await?.into_iter().find(|o| o.id == id).ok_or(StoreError::NotFound)
    }

    pub async fn organisation_by_ods(&self, ods_code: &str) -> Result<Option<Organisation>> {
        Ok(self.list_organisations().await?.into_iter().find(|o| o.ods_code.eq_ignore_ascii_case(ods_code)))
    }

    /// Creates an account an administrator asked for (origin `admin`).
    pub async fn create_user(&self, user: &User, password_hash: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        create_user_in(&mut w, user, password_hash, UserOrigin::Admin).await?;
        w.commit().await
    }

    /// [`Store::create_user`] with its audit entry, in one transaction.
    pub async fn create_user_audited(&self, user: &User, password_hash: &str, audit: &crate::audit::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        create_user_in(&mut w, user, password_hash, UserOrigin::Admin).await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    async fn user_services(&self, id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query("SELECT service_id FROM user_services WHERE user_id = $1 ORDER BY service_id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.get("service_id"))
            .collect())
    }

    async fn user_from_row(&self, r: &AnyRow) -> Result<User> {
        let id: String = r.get("id");
        let role: String = r.get("role");
        Ok(User {
            id: uuid(&id)?,
            email: r.get("email"),
            display_name: r.get("display_name"),
            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
            organisation_id: uuid(r.get::<String, _>("organisation_id").as_str())?,
            services: self.user_services(&id).await?,
            profession: r.get::<Option<String>, _>("profession").as_deref().map(|p| Profession::parse(p).ok_or_else(|| StoreError::Corrupt(format!("profession {p:?}")))).transpose()?,
        })
    }

    /// The user and their password hash, for sign-in.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((self.user_from_row(&r).await?, r.get("password_hash")))),
            None => Ok(None),
        }
    }

    pub async fn get_user(&self, id: UserId) -> Result<User> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.user_from_row(&row).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY email").fetch_all(&self.pool).await?;
        let mut users = Vec::with_capacity(rows.len());
        for r in &rows {
            users.push(self.user_from_row(r).await?);
        }
        Ok(users)
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?.get("n"))
    }

    /// A new password: every session of the user ends. With its audit entry.
    pub async fn set_password_hash(&self, id: UserId, hash: &str, audit: &crate::audit::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        crate::audit::append_audit_in(&mut w, audit);
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.to_string())
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.to_string()).execute(&mut *w.tx).await?;
        w.commit().await
    }

    /// Replaces a password hash with a stronger hash of the same password (sessions are kept:
    /// this is not a password change).
    pub async fn update_password_hash(&self, id: UserId, hash: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(hash).bind(id.to_string()).execute(&mut *w.tx).await?;
        w.commit().await
    }

    pub async fn create_session(&self, token_hash: &str, user: UserId, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash)
        .bind(user.to_string())
        .bind(ts(now))
        .bind(ts(expires))
        .execute(&mut *w.tx)
        .await?;
        w.commit().await
    }

    /// The signed-in user for a token hash, if the session exists and has not expired.
    pub async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionUser>> {
        let row = sqlx::query("SELECT user_id, created_at, last_seen_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let user = self.get_user(uuid(row.get::<String, _>("user_id").as_str())?).await?;
        Ok(Some(SessionUser {
            user,
            created_at: parse_ts(row.get::<String, _>("created_at").as_str())?,
            last_seen_at: parse_ts(row.get::<String, _>("last_seen_at").as_str())?,
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&mut *w.tx).await?;
        w.commit().await
    }

    /// Uses a session: its user if it exists, has not reached its absolute expiry and was last used
    /// after `idle_cutoff`. A used session's `last_seen_at` moves to `now` (written at most once a
    /// minute, to spare the database); an idle or expired session is deleted.
    pub async fn use_session(&self, token_hash: &str, now: DateTime<Utc>, idle_cutoff: DateTime<Utc>) -> Result<Option<SessionUser>> {
        let Some(mut s) = self.session_user(token_hash, now).await? else { return Ok(None) };
        if s.last_seen_at <= idle_cutoff {
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        if now - s.last_seen_at >= chrono::Duration::seconds(60) {
            let mut w = self.begin_write().await?;
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(ts(now))
                .bind(token_hash)
                .execute(&mut *w.tx)
                .await?;
            w.commit().await?;
            s.last_seen_at = now;
        }
        Ok(Some(s))
    }

    /// Ends every session of a user (sign-out everywhere, password change, account disabled).
    pub async fn delete_user_sessions(&self, user: UserId) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.to_string()).execute(&mut *w.tx).await?.rows_affected();
        w.commit().await?;
        Ok(n)
    }

    /// Records a failed sign-in against `subject` (an account's email, or a client address) in
    /// `scope` (`account` or `address`). Failures older than `forget_before` are pruned meanwhile.
    pub async fn record_sign_in_failure(&self, scope: &str, subject: &str, at: DateTime<Utc>, forget_before: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO sign_in_failures (id, scope, subject, failed_at) VALUES ($1, $2, $3, $4)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(scope)
            .bind(subject)
            .bind(ts(at))
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE failed_at < $1").bind(ts(forget_before)).execute(&mut *w.tx).await?;
        w.commit().await
    }

    /// How many failed sign-ins `subject` has had since `since`, and the time of each (oldest
    /// first), so the caller can tell when the oldest leaves the window.
    pub async fn sign_in_failures_since(&self, scope: &str, subject: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        sqlx::query("SELECT failed_at FROM sign_in_failures WHERE scope = $1 AND subject = $2 AND failed_at > $3 ORDER BY failed_at")
            .bind(scope)
            .bind(subject)
            .bind(ts(since))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| parse_ts(r.get::<String, _>("failed_at").as_str()))
            .collect()
    }

    /// Forgets a subject's failed sign-ins (after a successful sign-in to the account).
    pub async fn clear_sign_in_failures(&self, scope: &str, subject: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE scope = $1 AND subject = $2").bind(scope).bind(subject).execute(&mut *w.tx).await?;
        w.commit().await
    }

    /// Remembers an OpenID Connect sign-in in progress, under the hash of its `state`.
    pub async fn create_oidc_login(&self, login: &OidcLogin, state_hash: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next_path, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(state_hash)
            .bind(&login.nonce)
            .bind(&login.pkce_verifier)
            .bind(&login.next_path)
            .bind(ts(login.created_at))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Takes (reads and deletes: each is used once) an OpenID Connect sign-in started after
    /// `not_before`. Older ones are pruned meanwhile.
    pub async fn take_oidc_login(&self, state_hash: &str, not_before: DateTime<Utc>) -> Result<Option<OidcLogin>> {
        let mut w = self.begin_write().await?;
        let row = sqlx::query("SELECT nonce, pkce_verifier, next_path, created_at FROM oidc_logins WHERE state_hash = $1")
            .bind(state_hash)
            .fetch_optional(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM oidc_logins WHERE state_hash = $1 OR created_at < $2")
            .bind(state_hash)
            .bind(ts(not_before))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        let Some(r) = row else { return Ok(None) };
        let login = OidcLogin {
            nonce: r.get("nonce"),
            pkce_verifier: r.get("pkce_verifier"),
            next_path: r.get("next_path"),
            created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        };
        Ok((login.created_at >= not_before).then_some(login))
    }
}

/// An OpenID Connect sign-in between the redirect to the provider and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go after signing in (a same-site path).
    pub next_path: String,
    pub created_at: DateTime<Utc>,
}

/// [`Store::create_organisation`] inside a caller's transaction.
pub async fn create_organisation_in(w: &mut WriteTx<'_>, org: &Organisation) -> Result<()> {
    sqlx::query("INSERT INTO organisations (id, kind, ods_code, name, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(org.id.to_string())
        .bind(name(&org.kind))
        .bind(&org.ods_code)
        .bind(&org.name)
        .bind(ts(Utc::now()))
        .execute(&mut *w.tx)
        .await
        .map_err(|e| unique_violation(e, "an organisation with this ODS code"))?;
    for service in &org.services {
        sqlx::query("INSERT INTO provider_services (organisation_id, service_id) VALUES ($1, $2)")
            .bind(org.id.to_string())
            .bind(service)
            .execute(&mut *w.tx)
            .await?;
    }
    Ok(())
}

/// [`Store::create_user`] inside a caller's transaction, saying where the account came from.
pub async fn create_user_in(w: &mut WriteTx<'_>, user: &User, password_hash: &str, origin: UserOrigin) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, display_name, role, organisation_id, password_hash, created_at, origin, profession)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(user.id.to_string())
    .bind(user.email.to_lowercase())
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(user.organisation_id.to_string())
    .bind(password_hash)
    .bind(ts(Utc::now()))
    .bind(origin.as_str())
    .bind(user.profession.map(|p| p.as_str()))
    .execute(&mut *w.tx)
    .await
    .map_err(|e| unique_violation(e, "a user with this email"))?;
    for service in &user.services {
        sqlx::query("INSERT INTO user_services (user_id, service_id) VALUES ($1, $2)")
            .bind(user.id.to_string())
            .bind(service)
            .execute(&mut *w.tx)
            .await?;
    }
    Ok(())
}

/// Where an account came from. Single sign-on links an identity to an account by email only for
/// [`UserOrigin::Admin`] accounts (docs/security.md, "Imports").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrigin {
    /// Created by an administrator (`telederm user add`, the admin pages) or the demo.
    Admin,
    /// Created by a whole-installation restore (`telederm fhir import`): no password, never linked
    /// to a single sign-on identity by email.
    Import,
}

impl UserOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            UserOrigin::Admin => "admin",
            UserOrigin::Import => "import",
        }
    }
}

impl Store {
    /// The account an identity provider's subject was linked to, if any.
    pub async fn user_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT u.* FROM oidc_identities i JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.user_from_row(&r).await?)),
            None => Ok(None),
        }
    }

    /// The account's origin and whether it already has an identity from this issuer.
    pub async fn identity_link_facts(&self, user: UserId, issuer: &str) -> Result<(UserOrigin, bool)> {
        let origin: String = sqlx::query("SELECT origin FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?
            .get("origin");
        let linked = sqlx::query("SELECT 1 AS one FROM oidc_identities WHERE user_id = $1 AND issuer = $2")
            .bind(user.to_string())
            .bind(issuer)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Ok((if origin == "import" { UserOrigin::Import } else { UserOrigin::Admin }, linked))
    }

    /// Links an identity to an account (the first single sign-on by email). Refused with
    /// [`StoreError::Conflict`] when the identity or the account is already linked.
    /// Links a single sign-on identity to an account, with its audit entry.
    /// Records a user's profession (as a single sign-on provider states it), with its audit entry,
    /// in one transaction.
    pub async fn set_profession(&self, user: UserId, profession: Profession, audit: &crate::audit::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET profession = $2 WHERE id = $1").bind(user.to_string()).bind(profession.as_str()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    pub async fn link_identity(&self, issuer: &str, subject: &str, user: UserId, at: DateTime<Utc>, audit: &crate::audit::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("INSERT INTO oidc_identities (issuer, subject, user_id, linked_at) VALUES ($1, $2, $3, $4)")
            .bind(issuer)
            .bind(subject)
            .bind(user.to_string())
            .bind(ts(at))
            .execute(&mut *w.tx)
            .await
            .map_err(|e| unique_violation(e, "a single sign-on identity for this account"))?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }
}
